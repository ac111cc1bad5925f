"""``outbound-caller calls list``: the day's calls as the front desk reads them (patient,
local time, outcome, what changed), or exported as JSON or CSV."""

from __future__ import annotations

import json
import os
from datetime import datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from ..config import webhooks_configured
from ..phone import mask
from ..reports import OUTCOMES, call_record, calls_csv, for_the_office
from ..store.appointments import Store
from ..store.calls import CallRow, list_calls, settle_unreported
from ..store.practices import practice_summaries
from ..store.scheduling import utc_now
from .common import fail, parse_day, with_store

calls_app = typer.Typer(
    rich_markup_mode=None, help="Calls placed and how they ended.", no_args_is_help=True
)


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
        await settle_unreported(store, now=utc_now(), webhook=webhooks_configured(os.environ))
        rows = await list_calls(
            store, since=start, until=end, outcome=outcome, campaign_id=campaign
        )
        return zone, rows

    zone, rows = with_store(work)
    records = [call_record(r, zone, full=full) for r in rows]
    if as_json:
        for record in records:
            typer.echo(json.dumps(record, ensure_ascii=False))
        return
    if as_csv:
        typer.echo(calls_csv(records), nl=False)
        return
    _table(rows, zone, wide=wide, full=full)


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
