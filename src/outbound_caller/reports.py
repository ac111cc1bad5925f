"""The day's calls as the front desk reads them, shared by ``calls list`` and the web
console: one record per call, and CSV a spreadsheet cannot run."""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from .outcome import CallStatus
from .phone import mask
from .store.calls import NOT_DISPATCHED, TIMEOUT, CallRow

OUTCOMES = sorted([*(s.value for s in CallStatus), TIMEOUT, NOT_DISPATCHED])

FORMULA = ("=", "+", "-", "@", "\t", "\r")
FIELDS = (
    "id",
    "placed",
    "patient",
    "phone",
    "appointment_id",
    "campaign_id",
    "outcome",
    "sip_code",
    "duration_s",
    "ended_by",
    "changes",
    "callback_at",
    "callback_note",
    "office_messages",
    "room",
)


def safe_cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA) else text


def call_record(r: CallRow, zone: ZoneInfo, *, full: bool) -> dict[str, Any]:
    values = (
        r.id,
        r.placed_at.astimezone(zone).isoformat(timespec="seconds"),
        r.patient_name,
        r.phone if full else mask(r.phone),
        r.appointment_id,
        r.campaign_id,
        r.status,
        r.sip_code,
        None if r.duration_s is None else round(r.duration_s),
        r.hangup_reason,
        r.changes,
        r.callback_at.astimezone(zone).isoformat(timespec="minutes") if r.callback_at else None,
        r.callback_note,
        " | ".join(r.office_messages),
        r.room,
    )
    return dict(zip(FIELDS, values, strict=True))


def calls_csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(FIELDS)
    for record in records:
        writer.writerow([safe_cell(v) for v in record.values()])
    return out.getvalue()


def for_the_office(r: CallRow, zone: ZoneInfo) -> str:
    """What the staff must act on: a callback the patient asked for, and their messages."""
    parts = []
    if r.callback_at is not None:
        callback = f"call back {r.callback_at.astimezone(zone):%a %m-%d %H:%M}"
        parts.append(f"{callback} ({r.callback_note})" if r.callback_note else callback)
    parts += [f"message: {m}" for m in r.office_messages]
    return "; ".join(parts)
