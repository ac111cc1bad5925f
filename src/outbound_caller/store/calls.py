"""Calls and the do-not-call list in the store.

A ``calls`` row is written when a call is placed (by ``outbound-caller call`` or a campaign)
and completed by the agent when the call ends: that is how a campaign learns how its calls
went. Calls dispatched some other way (``lk dispatch create``) get their row at the end.

Every row reaches a final state: the agent's report, or, for a call that never reports
back (no worker took it, or its job died), ``timeout`` once no call could still be running
(:data:`GIVE_UP_AFTER`), or ``not_dispatched`` for a campaign's claim whose dispatch was
never created (its runner died in between: no dispatch id after :data:`DISPATCH_GRACE`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..config import MAX_CALL_DURATION_MAX, RINGING_TIMEOUT_MAX
from ..outcome import CallRecord, CallStatus
from ..phone import mask
from . import schema as db
from .appointments import Store
from .outbox import enqueue_call_ended

# the longest a call can run: ringing, the call itself, and the job's shutdown after it
GIVE_UP_AFTER = timedelta(seconds=RINGING_TIMEOUT_MAX + MAX_CALL_DURATION_MAX + 230)  # 20 min
# a dial request gives up after 15 s (liveapi); a claim without a dispatch id after this
# was never dispatched
DISPATCH_GRACE = timedelta(seconds=30)
TIMEOUT = "timeout"
NOT_DISPATCHED = "not_dispatched"
# outcomes of calls that never rang the patient: not counted as attempts or against caps
NEVER_RANG = (CallStatus.TRUNK_FAILED.value, NOT_DISPATCHED)


async def settle_unreported(
    store: Store,
    *,
    now: datetime,
    give_up_after: timedelta = GIVE_UP_AFTER,
    campaign_id: int | None = None,
    webhook: bool = False,
) -> int:
    """Give calls still ``dialing`` that can no longer report their final state; returns
    how many. A late report from the agent still overwrites it (``record_outcome``, with an
    event of its own). With ``webhook``, each settled call queues its ``call.ended`` event
    (status ``not_dispatched`` or ``timeout``) in the same transaction."""
    scope = [db.Call.status == "dialing"]
    if campaign_id is not None:
        scope.append(db.Call.campaign_id == campaign_id)
    ghost = (db.Call.dispatch_id.is_(None)) & (db.Call.placed_at < now - DISPATCH_GRACE)
    stale = db.Call.placed_at < now - give_up_after
    async with store.write() as s:
        calls = (await s.scalars(select(db.Call).where(*scope, ghost | stale))).all()
        for call in calls:
            ghostly = call.dispatch_id is None and call.placed_at < now - DISPATCH_GRACE
            call.status, call.ended_at = (NOT_DISPATCHED if ghostly else TIMEOUT), now
            if webhook:
                record = CallRecord(started_at=call.placed_at, ended_at=now)
                enqueue_call_ended(s, call, record, now, status=call.status)
        return len(calls)


MESSAGE_SEPARATOR = "\n"  # one message per line (each is whitespace-collapsed)


@dataclass(frozen=True)
class CallRow:
    id: int
    room: str
    phone: str
    appointment_id: int | None
    campaign_id: int | None
    placed_at: datetime
    ended_at: datetime | None
    status: str
    sip_code: int | None
    duration_s: float | None
    hangup_reason: str | None
    tools_used: str
    changes: str
    patient_name: str | None = None  # the appointment's patient, or the one with that phone
    callback_at: datetime | None = None  # the patient asked to be called back then
    callback_note: str | None = None
    office_messages: tuple[str, ...] = ()  # what the patient asked to pass on to the staff


async def record_placed(
    store: Store,
    *,
    room: str,
    phone: str,
    placed_at: datetime,
    appointment_id: int | None = None,
    dispatch_id: str | None = None,
) -> int:
    async with store.write() as s:
        call = db.Call(
            room=room,
            phone=phone,
            appointment_id=appointment_id,
            dispatch_id=dispatch_id,
            placed_at=placed_at,
            status="dialing",
        )
        s.add(call)
        await s.flush()
        return call.id


async def set_dispatch(store: Store, room: str, dispatch_id: str) -> None:
    async with store.write() as s:
        call = await s.scalar(select(db.Call).where(db.Call.room == room))
        if call is not None:
            call.dispatch_id = dispatch_id


async def record_outcome(
    store: Store,
    *,
    room: str,
    phone: str,
    appointment_id: int | None,
    record: CallRecord,
    webhook: bool = False,
) -> None:
    """Complete the call's row (or create it, for calls placed outside this project); with
    ``webhook``, queue its ``call.ended`` event in the same transaction."""
    async with store.write() as s:
        call = await s.scalar(select(db.Call).where(db.Call.room == room).with_for_update())
        if call is None:
            call = db.Call(
                room=room, phone=phone, appointment_id=appointment_id, placed_at=record.started_at
            )
            s.add(call)
        call.status = record.status.value
        call.sip_code = record.sip_code
        call.ended_at = record.ended_at
        call.duration_s = record.duration_seconds
        call.hangup_reason = record.hangup_reason
        call.amd = record.amd
        call.tools_used = ",".join(record.tools_used)
        call.changes = "; ".join(record.changes)
        call.errors = "; ".join(record.errors)
        call.callback_at = record.callback_at
        call.callback_note = record.callback_note
        call.office_messages = MESSAGE_SEPARATOR.join(record.office_messages)
        if webhook:
            await s.flush()  # the call's id, for a row created here
            enqueue_call_ended(s, call, record, store.now())


async def list_calls(
    store: Store,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    outcome: str | None = None,
    campaign_id: int | None = None,
    phone: str | None = None,
) -> list[CallRow]:
    """Calls placed in [``since``, ``until``), oldest first, with the patient's name."""
    query = select(db.Call).order_by(db.Call.placed_at, db.Call.id)
    if since is not None:
        query = query.where(db.Call.placed_at >= since)
    if until is not None:
        query = query.where(db.Call.placed_at < until)
    if outcome is not None:
        query = query.where(db.Call.status == outcome)
    if campaign_id is not None:
        query = query.where(db.Call.campaign_id == campaign_id)
    if phone is not None:
        query = query.where(db.Call.phone == phone)
    async with store.read() as s:
        calls = (await s.scalars(query)).all()
        names = await _names(s, calls)
        return [
            CallRow(
                c.id,
                c.room,
                c.phone,
                c.appointment_id,
                c.campaign_id,
                c.placed_at,
                c.ended_at,
                c.status,
                c.sip_code,
                c.duration_s,
                c.hangup_reason,
                c.tools_used,
                c.changes,
                names.get(("appointment", c.appointment_id)) or names.get(("phone", c.phone)),
                c.callback_at,
                c.callback_note,
                tuple(m for m in c.office_messages.split(MESSAGE_SEPARATOR) if m),
            )
            for c in calls
        ]


async def _names(s: AsyncSession, calls: Sequence[db.Call]) -> dict[tuple[str, Any], str]:
    """Who each call was for: by its appointment, else by the one patient with that phone."""
    names: dict[tuple[str, Any], str] = {}
    ids = {c.appointment_id for c in calls if c.appointment_id is not None}
    if ids:
        rows = await s.execute(
            select(db.Appointment.id, db.Patient.name)
            .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
            .where(db.Appointment.id.in_(ids))
        )
        names.update({("appointment", i): n for i, n in rows.all()})
    phones = {c.phone for c in calls if c.appointment_id is None}
    if phones:
        by_phone: dict[str, list[str]] = {}
        for number, name in (
            await s.execute(
                select(db.Patient.phone, db.Patient.name).where(db.Patient.phone.in_(phones))
            )
        ).all():
            by_phone.setdefault(number, []).append(name)
        names.update({("phone", k): v[0] for k, v in by_phone.items() if len(v) == 1})
    return names


async def dial_problem(
    store: Store, *, phone: str, appointment_id: int | None, override_dnc: bool = False
) -> str | None:
    """Why a single call to ``phone`` (about ``appointment_id``) must not be placed, or None.
    The campaign runner makes the same do-not-call check for every dial it claims."""
    async with store.read() as s:
        blocked = await s.get(db.DoNotCall, phone)
        if blocked is not None and not override_dnc:
            return (
                f"{mask(phone)} is on the do-not-call list ({blocked.reason}); remove it "
                "(outbound-caller dnc remove) or pass --override-do-not-call if the patient "
                "has asked to be called"
            )
        if appointment_id is None:
            return None
        appointment = await s.get(db.Appointment, appointment_id)
        if appointment is None:
            return f"there is no appointment {appointment_id}"
        if appointment.patient.phone != phone:
            return (
                f"appointment {appointment_id} is not for the patient at this number; "
                "call the number on file for it"
            )
    return None


async def is_blocked(s: AsyncSession, phone: str) -> bool:
    return await s.get(db.DoNotCall, phone) is not None


async def dnc_add(store: Store, phone: str, *, reason: str, by: str, at: datetime) -> bool:
    """Returns False when the number was already on the list."""
    async with store.write() as s:
        if await is_blocked(s, phone):
            return False
        s.add(db.DoNotCall(phone=phone, reason=reason, added_at=at, added_by=by))
        return True


async def dnc_remove(store: Store, phone: str) -> bool:
    async with store.write() as s:
        result = await s.execute(delete(db.DoNotCall).where(db.DoNotCall.phone == phone))
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def dnc_list(store: Store) -> list[db.DoNotCall]:
    async with store.read() as s:
        return list((await s.scalars(select(db.DoNotCall).order_by(db.DoNotCall.added_at))).all())
