"""``outbound-caller campaign run``: parse, call the campaign runner, show progress."""

from __future__ import annotations

import asyncio
import os
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from ..campaigns.plan import plan_for_day, plan_for_people
from ..campaigns.runner import Policy, Runner, Summary
from ..config import LiveKitSettings, load_livekit
from ..dispatch import DispatchMetadata
from ..errors import ConfigError, OutboundCallerError
from ..liveapi import REQUEST_ERRORS, create_call, explain, livekit_api
from ..names import name_problem
from ..phone import to_e164
from ..store import schema as db
from ..store.appointments import Store
from ..store.database import database_url
from ..store.importer import ImportFailed, check_columns, read_rows
from ..store.scheduling import utc_now
from ..zones import time_zone
from .common import fail

campaign_app = typer.Typer(help="Call many patients, safely.", no_args_is_help=True)


PEOPLE_COLUMNS = ({"phone"}, {"name", "timezone"})


def read_people(path: Path, default_zone: str) -> list[dict[str, str]]:
    """phone,name,timezone rows, read and checked as ``import`` reads its files; raises
    typer.Exit(2) listing every bad line."""
    try:
        header, rows = read_rows(path)
        check_columns(header, *PEOPLE_COLUMNS)
    except ImportFailed as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        raise typer.Exit(2) from None
    people, problems = [], []
    for line, row in rows:
        reasons: list[str] = []
        try:
            phone = to_e164(row.get("phone", ""))
        except ValueError as exc:
            reasons.append(f"phone {exc}")
        zone = row.get("timezone") or default_zone
        try:
            time_zone(zone)
        except ValueError as exc:
            reasons.append(f"timezone {exc}")
        name = row.get("name", "")
        if name and (why := name_problem(name)) is not None:
            reasons.append(why)
        if reasons:
            problems.append(f"{path}: line {line}: " + "; ".join(reasons))
            continue
        people.append({"phone": phone, "name": name, "timezone": zone})
    if problems or not people:
        for p in problems or [f"{path}: no rows after the header"]:
            typer.echo(p, err=True)
        raise typer.Exit(2)
    return people


def show(summary: Summary, console: Console) -> None:
    table = Table(title="Campaign summary")
    table.add_column("")
    table.add_column("calls", justify="right")
    for label, count in summary.rows():
        table.add_row(label, str(count))
    console.print(table)


@campaign_app.command("run")
def run(
    day: Annotated[
        str | None, typer.Option("--date", help="Call about unconfirmed appointments that day.")
    ] = None,
    people_csv: Annotated[
        Path | None, typer.Option("--csv", help="Or call these people: phone,name,timezone.")
    ] = None,
    resume: Annotated[int | None, typer.Option(help="Continue campaign N after a stop.")] = None,
    practice_id: Annotated[int, typer.Option(help="The practice.")] = 1,
    max_in_flight: Annotated[int, typer.Option(min=1, max=100)] = 2,
    rate: Annotated[float, typer.Option(min=0.01, max=50, help="New calls per second.")] = 1.0,
    max_attempts: Annotated[int, typer.Option(min=1, max=10)] = 3,
    retry_minutes: Annotated[int, typer.Option(min=1)] = 120,
    retry_voicemail: Annotated[bool, typer.Option("--retry-voicemail")] = False,
) -> None:
    """Run a campaign until every patient is reached, finished with, or skipped."""
    if sum(x is not None for x in (day, people_csv, resume)) != 1:
        raise fail("give exactly one of --date, --csv or --resume", 2)
    wanted: date | None = None
    if day is not None:
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            raise fail(f"--date {day!r} is not a date like 2026-12-01", 2) from None
    try:
        livekit: LiveKitSettings = load_livekit(os.environ)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    policy = Policy(
        max_in_flight=max_in_flight,
        calls_per_second=rate,
        max_attempts=max_attempts,
        retry_after=timedelta(minutes=retry_minutes),
        retry_voicemail=retry_voicemail,
    )
    console = Console(stderr=True)

    async def work() -> Summary:
        store = Store(database_url(os.environ), now=utc_now)
        try:
            await store.check()
            if resume is not None:
                campaign_id = resume
                async with store.read() as s:
                    if await s.get(db.Campaign, resume) is None:
                        raise OutboundCallerError(f"no campaign {resume}")
            elif wanted is not None:
                campaign_id, count = await plan_for_day(
                    store,
                    practice_id=practice_id,
                    day=wanted,
                    name=f"appointments {wanted}",
                    policy=policy,
                    now=utc_now(),
                )
                console.print(
                    f"campaign {campaign_id}: {count} unconfirmed appointment(s) "
                    f"on {wanted} (resume with --resume {campaign_id})"
                )
            else:
                assert people_csv is not None
                async with store.read() as s:
                    zone = await s.scalar(
                        select(db.Practice.timezone).where(db.Practice.id == practice_id)
                    )
                if zone is None:
                    raise OutboundCallerError(f"no practice with id {practice_id}")
                people = read_people(people_csv, zone)
                campaign_id, count = await plan_for_people(
                    store,
                    practice_id=practice_id,
                    people=people,
                    name=str(people_csv),
                    policy=policy,
                    now=utc_now(),
                )
                console.print(
                    f"campaign {campaign_id}: {count} people (resume with --resume {campaign_id})"
                )
            async with livekit_api(livekit) as lkapi:

                async def dial(room: str, meta: DispatchMetadata) -> str:
                    try:
                        return (await create_call(lkapi, meta, room=room)).id
                    except REQUEST_ERRORS as exc:  # this call failed; the campaign goes on
                        raise explain(exc, livekit.livekit_url) from None

                with Progress(
                    TextColumn("calling"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                    console=console,
                ) as bar:
                    task = bar.add_task("calling", total=None)
                    runner = Runner(
                        store,
                        campaign_id,
                        dialer=dial,
                        policy=policy,
                        now=utc_now,
                        on_progress=lambda done, total: bar.update(
                            task, completed=done, total=total
                        ),
                    )
                    return await runner.run()
        finally:
            await store.close()

    try:
        summary = asyncio.run(work())
    except OutboundCallerError as exc:
        raise fail(str(exc)) from None
    show(summary, Console())
    if summary.stopped:
        raise fail(f"campaign stopped: {summary.stopped}")


@campaign_app.command("window")
def window(
    start: Annotated[str | None, typer.Option(help="Earliest local time to call, HH:MM.")] = None,
    end: Annotated[str | None, typer.Option(help="Latest local time to call, HH:MM.")] = None,
    closed_days: Annotated[
        bool | None,
        typer.Option(
            "--call-on-closed-days/--not-on-closed-days",
            help="Whether campaigns call on the practice's closed days.",
        ),
    ] = None,
    practice_id: Annotated[int, typer.Option(help="The practice.")] = 1,
) -> None:
    """Show or set the practice's calling window (in each patient's own time zone)."""
    parsed = {}
    for label, value in (("--start", start), ("--end", end)):
        if value is not None:
            try:
                parsed[label] = time.fromisoformat(value)
            except ValueError:
                raise fail(f"{label} {value!r} is not a time like 08:00", 2) from None
    if "--start" in parsed and "--end" in parsed and parsed["--start"] >= parsed["--end"]:
        raise fail("--start must be before --end", 2)

    async def work() -> tuple[time, time, bool]:
        store = Store(database_url(os.environ), now=utc_now)
        try:
            await store.check()
            async with store.write() as s:
                p = await s.get(db.Practice, practice_id)
                if p is None:
                    raise OutboundCallerError(f"no practice with id {practice_id}")
                p.call_window_start = parsed.get("--start", p.call_window_start)
                p.call_window_end = parsed.get("--end", p.call_window_end)
                if p.call_window_start >= p.call_window_end:
                    raise OutboundCallerError("the window would end before it starts")
                if closed_days is not None:
                    p.call_on_closed_days = closed_days
                return p.call_window_start, p.call_window_end, p.call_on_closed_days
        finally:
            await store.close()

    try:
        opens, closes, on_closed = asyncio.run(work())
    except OutboundCallerError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"calling window {opens:%H:%M}-{closes:%H:%M} patient time; "
        f"{'also' if on_closed else 'not'} on closed days"
    )
