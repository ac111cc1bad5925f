"""A TCP proxy in front of the LiveKit server that passes a worker's registration through
and refuses every room join (``GET /rtc...``) with 503, as a server in trouble does.

    refusing_proxy.py --listen HOST:PORT --upstream HOST:PORT
"""

from __future__ import annotations

import argparse
import asyncio

REFUSAL = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


async def serve(upstream: tuple[str, int], listen: tuple[str, int]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()  # GET /rtc/v1?join_request=... HTTP/1.1
        parts = request_line.split(b" ")
        if len(parts) > 1 and parts[1].startswith(b"/rtc"):
            print("refused a room join", flush=True)
            writer.write(REFUSAL)
            await writer.drain()
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*upstream)
        up_writer.write(request_line)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(handle, *listen)
    print("proxy ready", flush=True)
    async with server:
        await server.serve_forever()


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--listen", type=address, required=True)
    parser.add_argument("--upstream", type=address, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.upstream, args.listen))


if __name__ == "__main__":
    main()
