"""The outbox of the practice's webhook (``WEBHOOK_URL``, posted by ``webhooks/sender.py``):
events written with what they report, in its transaction; claimed by a sender for one
attempt at a time; then marked delivered, retried later, or given up on.

A claim is a lease (``lease_until``) taken with a conditional update, so senders in several
workers, on SQLite or PostgreSQL, never post the same event at once; a sender that dies
mid-attempt leaves a lease that runs out, and the event is posted again by whoever is next.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..outcome import CallRecord
from . import schema as db
from .appointments import Store

# longer than an attempt can take (webhooks.sender.TIMEOUT_S): a live sender's post is
# never doubled
LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=10)  # then 20 s, 40 s, ... up to LONGEST_WAIT
LONGEST_WAIT = timedelta(hours=1)
RETRY_FOR = timedelta(hours=24)  # after this an event is given up on
CALL_ENDED = "call.ended"


def _when(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def call_ended(
    *,
    event_id: str,
    created_at: datetime,
    call_id: int,
    phone: str,
    appointment_id: int | None,
    campaign_id: int | None,
    record: CallRecord,
    status: str | None = None,
) -> str:
    """The body of a call's ``call.ended`` event: its outcome, never what was said.
    ``status``: an outcome no worker reported (``timeout``, ``not_dispatched``)."""
    event: dict[str, Any] = {
        "id": event_id,
        "type": CALL_ENDED,
        "created_at": created_at.isoformat(),
        "call": {
            "id": call_id,
            "phone": phone,
            "appointment_id": appointment_id,
            "campaign_id": campaign_id,
            "status": status or record.status.value,
            "hangup_reason": record.hangup_reason,
            "sip_code": record.sip_code,
            "started_at": _when(record.started_at),
            "answered_at": _when(record.answered_at),
            "ended_at": _when(record.ended_at),
            "duration_s": record.duration_seconds,
            "transferred": record.transferred,
            "changes": list(record.changes),
            "callback": (
                {"at": _when(record.callback_at), "note": record.callback_note}
                if record.callback_at is not None
                else None
            ),
            "office_messages": list(record.office_messages),
        },
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def enqueue_call_ended(
    s: AsyncSession, call: db.Call, record: CallRecord, now: datetime, *, status: str | None = None
) -> None:
    """Add the call's ``call.ended`` event, in the transaction that stores its outcome."""
    event_id = str(uuid.uuid4())
    body = call_ended(
        event_id=event_id,
        created_at=now,
        call_id=call.id,
        phone=call.phone,
        appointment_id=call.appointment_id,
        campaign_id=call.campaign_id,
        record=record,
        status=status,
    )
    s.add(
        db.WebhookEvent(
            event_id=event_id,
            kind=CALL_ENDED,
            call_id=call.id,
            body=body,
            created_at=now,
            next_at=now,
            attempts=0,
        )
    )


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: str
    body: str
    attempts: int  # this attempt included
    created_at: datetime


def _open() -> list[ColumnElement[bool]]:
    return [db.WebhookEvent.delivered_at.is_(None), db.WebhookEvent.given_up_at.is_(None)]


async def claim_due(store: Store, *, now: datetime, limit: int = 20) -> list[Claimed]:
    """Take the events due now that no other sender holds, oldest first."""
    free = or_(db.WebhookEvent.lease_until.is_(None), db.WebhookEvent.lease_until <= now)
    async with store.read() as s:
        due = (
            await s.execute(
                select(db.WebhookEvent.id)
                .where(*_open(), db.WebhookEvent.next_at <= now, free)
                .order_by(db.WebhookEvent.next_at, db.WebhookEvent.id)
                .limit(limit)
            )
        ).scalars()
        candidates = list(due)
    claimed: list[Claimed] = []
    for event in candidates:
        async with store.write() as s:
            taken = await s.execute(
                update(db.WebhookEvent)
                .where(db.WebhookEvent.id == event, *_open(), free)
                .values(lease_until=now + LEASE, attempts=db.WebhookEvent.attempts + 1)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue  # another sender took it in between
            row = await s.get_one(db.WebhookEvent, event)
            claimed.append(Claimed(row.id, row.event_id, row.body, row.attempts, row.created_at))
    return claimed


async def mark_delivered(store: Store, event: Claimed, *, now: datetime) -> None:
    async with store.write() as s:
        await s.execute(
            update(db.WebhookEvent)
            .where(db.WebhookEvent.id == event.id)
            .values(delivered_at=now, lease_until=None, last_error=None)
        )


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    wait: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20)
    return min(wait, LONGEST_WAIT)


async def mark_failed(store: Store, event: Claimed, *, now: datetime, error: str) -> bool:
    """Record a failed attempt; returns True when the event is now given up on."""
    next_at = now + retry_delay(event.attempts)
    give_up = next_at - event.created_at > RETRY_FOR
    async with store.write() as s:
        await s.execute(
            update(db.WebhookEvent)
            .where(db.WebhookEvent.id == event.id)
            .values(
                next_at=next_at,
                lease_until=None,
                last_error=error[:200],
                given_up_at=now if give_up else None,
            )
        )
    return give_up


async def recent(store: Store, *, limit: int = 50) -> list[db.WebhookEvent]:
    """The latest events, newest first, as the operator reads them."""
    async with store.read() as s:
        rows = await s.execute(
            select(db.WebhookEvent).order_by(db.WebhookEvent.id.desc()).limit(limit)
        )
        return list(rows.scalars())
