"""The practice's webhook endpoint for the e2e tests: logs every request (arrival time,
headers, body, the status it answered) as a JSON line, and answers 503 while the file
``--down-while`` exists, as a receiver that is down; 200 otherwise.

    webhook_receiver.py --listen HOST:PORT --log FILE --down-while FILE
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from aiohttp import web


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--down-while", type=Path, required=True)
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        status = 503 if args.down_while.exists() else 200
        with args.log.open("a") as out:
            entry = {
                "at": time.time(),
                "headers": dict(request.headers),
                "body": body.decode(),
                "status": status,
            }
            out.write(json.dumps(entry) + "\n")
        return web.Response(status=status, text="down" if status == 503 else "ok")

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/hooks/calls", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, host, int(port)).start()
        print("receiver ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
