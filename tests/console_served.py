"""The real ``outbound-caller console`` command, served on 127.0.0.1 from a demo store, with
LiveKit's API played by the wire-level stand-in; each dispatch it receives is answered and
reported back through the store a moment later, as a worker would."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from livekit import api

from console_world import SECRET
from livekit_stub import API_KEY, API_SECRET, LiveKitStub
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome
from outbound_caller.store.scheduling import utc_now

SCRIPT = Path(sys.executable).with_name("outbound-caller")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Served:
    url: str  # the console's
    db: str
    stub: LiveKitStub
    store: Store
    dialed: list[str] = field(default_factory=list)  # numbers, in dispatch order
    log: Path | None = None
    exit_code: int | None = None  # the command's, once it was stopped

    def answer_dispatches(self) -> None:
        def create(request: api.CreateAgentDispatchRequest) -> api.AgentDispatch:
            meta = json.loads(request.metadata)
            self.dialed.append(meta["phone_number"])
            asyncio.get_running_loop().create_task(self._report(request.room, meta))
            return api.AgentDispatch(id=f"AD_{request.room}", room=request.room)

        self.stub.behaviour["CreateDispatch"] = create

    async def _report(self, room: str, meta: dict[str, object]) -> None:
        await asyncio.sleep(0.3)
        now = utc_now()
        record = CallRecord(
            started_at=now, status=CallStatus.ANSWERED, answered_at=now, ended_at=now
        )
        record.hangup_reason = "completed"
        appointment = meta.get("appointment_id")
        if appointment:  # the patient says yes, as in a real call
            await self.store.confirm(int(str(appointment)), by=room)
            record.changes = [f"confirmed {appointment}"]
        await record_outcome(
            self.store,
            room=room,
            phone=str(meta["phone_number"]),
            appointment_id=int(str(appointment)) if appointment else None,
            record=record,
        )


@asynccontextmanager
async def serve_console(db_url: str, stub: LiveKitStub, log: Path) -> AsyncIterator[Served]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")},
        "DATABASE_URL": db_url,
        "CONSOLE_SECRET": SECRET,
        "LIVEKIT_URL": stub.url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
    }
    with log.open("w") as out:
        process = await asyncio.create_subprocess_exec(
            str(SCRIPT),
            "console",
            "--port",
            str(port),
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    store = Store(db_url, now=utc_now)
    served = Served(base, db_url, stub, store, log=log)
    served.answer_dispatches()
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                if process.returncode is not None:
                    raise AssertionError(f"the console exited:\n{log.read_text()}")
                try:
                    if (await client.get(f"{base}/health")).text == "ok":
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"the console never answered:\n{log.read_text()}")
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        await store.close()
        served.exit_code = process.returncode
