"""``outbound-caller calls list``: the day's calls as the front desk reads them (patient,
local time, outcome, what changed), or exported as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from ..outcome import CallStatus
from ..phone import mask
from ..store.appointments import Store
from ..store.calls import NOT_DISPATCHED, TIMEOUT, CallRow, list_calls, settle_unreported
from ..store.practices import practice_summaries
from ..store.scheduling import utc_now
from .common import fail, parse_day, with_store

calls_app = typer.Typer(
    rich_markup_mode=None, help="Calls placed and how they ended.", no_args_is_help=True
)

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


def _record(r: CallRow, zone: ZoneInfo, *, full: bool) -> dict[str, Any]:
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


@calls_app.command("list")
def calls_list(
    day: Annotated[
        str | None,
        typer.Option(
            "--date", help="Only calls placed that day, practice time: YYYY-MM-DD or today."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only calls placed on or after this day (or yesterday...).")
    ] = None,
    outcome: Annotated[
        str | None, typer.Option(help=f"Only this outcome: {', '.join(OUTCOMES)}.")
    ] = None,
    campaign: Annotated[
        int | None, typer.Option(help="Only this campaign's calls (its id).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON lines, for other programs.")
    ] = False,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="CSV for a spreadsheet (no cell runs as a formula).")
    ] = False,
    wide: Annotated[bool, typer.Option(help="One line per call, however long.")] = False,
    full: Annotated[
        bool, typer.Option(help="Show whole phone numbers, not the last four.")
    ] = False,
) -> None:
    """Calls and how they went, oldest first, in the practice's time."""
    if outcome is not None and outcome not in OUTCOMES:
        raise fail(f"--outcome {outcome!r} is not one of: {', '.join(OUTCOMES)}", 2)
    if as_json and as_csv:
        raise fail("--json and --csv: choose one", 2)

    async def work(store: Store) -> tuple[ZoneInfo, list[CallRow]]:
        await store.check()
        practices = await practice_summaries(store)
        zone = ZoneInfo(practices[0].timezone if practices else "UTC")
        start = end = None
        if day is not None:
            wanted = parse_day(day, zone, now=utc_now(), flag="--date")
            start = datetime.combine(wanted, time(), zone)
            end = datetime.combine(wanted + timedelta(days=1), time(), zone)
        if since is not None:
            first = parse_day(since, zone, now=utc_now(), flag="--since")
            start = datetime.combine(first, time(), zone)
        # a call that can no longer report back is shown as what it is: timed out
        await settle_unreported(store, now=utc_now())
        rows = await list_calls(
            store, since=start, until=end, outcome=outcome, campaign_id=campaign
        )
        return zone, rows

    zone, rows = with_store(work)
    records = [_record(r, zone, full=full) for r in rows]
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FIELDS)
        for record in records:
            writer.writerow([safe_cell(v) for v in record.values()])
        typer.echo(out.getvalue(), nl=False)
        return
    _table(rows, zone, wide=wide, full=full)


def for_the_office(r: CallRow, zone: ZoneInfo) -> str:
    """What the staff must act on: a callback the patient asked for, and their messages."""
    parts = []
    if r.callback_at is not None:
        callback = f"call back {r.callback_at.astimezone(zone):%a %m-%d %H:%M}"
        parts.append(f"{callback} ({r.callback_note})" if r.callback_note else callback)
    parts += [f"message: {m}" for m in r.office_messages]
    return "; ".join(parts)


def _table(rows: list[CallRow], zone: ZoneInfo, *, wide: bool, full: bool) -> None:
    table = Table(box=None, pad_edge=False, show_edge=False)
    # the short columns never wrap; the others fold (never cut off) unless --wide
    for name, justify, short in (
        ("placed", "left", True),
        ("patient", "left", False),
        ("phone", "left", True),
        ("outcome", "left", True),
        ("sip", "right", True),
        ("secs", "right", True),
        ("ended by", "left", False),
        ("changes", "left", False),
    ):
        table.add_column(name, justify=justify, overflow="fold", no_wrap=wide or short)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            f"{r.placed_at.astimezone(zone):%a %m-%d %H:%M}",
            r.patient_name or "",
            r.phone if full else mask(r.phone),
            r.status,
            str(r.sip_code or ""),
            "" if r.duration_s is None else f"{r.duration_s:.0f}",
            r.hangup_reason or "",
            r.changes,
        )
    console = Console(width=10_000 if wide else None, highlight=False, soft_wrap=False)
    console.print(table)
    # what the staff must act on, in full, under the calls
    follow_ups = [(r, text) for r in rows if (text := for_the_office(r, zone))]
    if follow_ups:
        console.print("\nFor the office:")
        for r, text in follow_ups:
            who = r.patient_name or (r.phone if full else mask(r.phone))
            console.print(f"  {r.placed_at.astimezone(zone):%a %m-%d %H:%M}  {who}: {text}")
    console.print(f"{len(rows)} call(s), times in {zone}")
