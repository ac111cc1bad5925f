"""A fake clock and a fake far end for campaign tests.

Each dial goes to the runner's dialer, which answers from a script; after the call's
duration the "agent" reports the outcome through the real ``record_outcome``, exactly as
the worker does when a call ends.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select

from outbound_caller.dispatch import DispatchMetadata
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome


@dataclass
class Dial:
    at: datetime
    room: str
    phone: str
    in_flight: int
    appointment_id: int | None = None


@dataclass
class World:
    store: Store
    t: datetime
    duration: timedelta = timedelta(seconds=60)
    script: dict[str, list[str]] = field(default_factory=dict)
    dials: list[Dial] = field(default_factory=list)
    pending: list[tuple[datetime, str, str, str]] = field(default_factory=list)
    crash_after: int | None = None

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)
        await self.deliver()
        await asyncio.sleep(0)

    async def deliver(self) -> None:
        due = [p for p in self.pending if p[0] <= self.t]
        self.pending = [p for p in self.pending if p[0] > self.t]
        for ended, room, status, phone in due:
            started = ended - self.duration
            if status == "do_not_call":  # answered, and asked not to be called again
                record = CallRecord(started_at=started, status=CallStatus.ANSWERED, ended_at=ended)
                record.hangup_reason = "do_not_call"
            elif status.startswith("callback+"):  # answered: "call me back in N hours"
                record = CallRecord(started_at=started, status=CallStatus.ANSWERED, ended_at=ended)
                record.hangup_reason = "callback_requested"
                record.callback_at = ended + timedelta(hours=float(status.split("+")[1]))
            else:
                record = CallRecord(started_at=started, status=CallStatus(status), ended_at=ended)
            if record.status is CallStatus.ANSWERED:
                record.answered_at = started
            await record_outcome(
                self.store, room=room, phone=phone, appointment_id=None, record=record
            )

    async def dialer(self, room: str, meta: DispatchMetadata) -> str:
        if self.crash_after is not None and len(self.dials) >= self.crash_after:
            raise Crash
        async with self.store.read() as s:
            in_flight = await s.scalar(
                select(func.count()).select_from(db.Call).where(db.Call.status == "dialing")
            )
        self.dials.append(
            Dial(self.t, room, meta.phone_number, int(in_flight or 0), meta.appointment_id)
        )
        script = self.script.get(meta.phone_number)
        status = script.pop(0) if script else "answered"
        self.pending.append((self.t + self.duration, room, status, meta.phone_number))
        return f"AD_{room}"


class Crash(BaseException):
    """The runner process dies (not an error it could handle)."""
