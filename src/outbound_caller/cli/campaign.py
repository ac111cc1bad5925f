"""``outbound-caller campaign run``: parse, call the campaign runner, show progress."""

from __future__ import annotations

import asyncio
import os
from datetime import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from ..campaigns.dialing import WORKER_WAIT_S, livekit_dialer
from ..campaigns.plan import Options, carry_on_with, plan_for_day, plan_for_people
from ..campaigns.runner import Policy, Runner, Summary, summarize
from ..campaigns.status import CampaignLine, Waiting, campaign_lines, campaign_waiting
from ..config import LiveKitSettings, load_livekit, webhooks_configured
from ..errors import ConfigError, OutboundCallerError
from ..liveapi import livekit_api
from ..names import name_problem
from ..phone import mask, to_e164
from ..store import schema as db
from ..store.appointments import Store
from ..store.database import database_url
from ..store.importer import ImportFailed, check_columns, read_rows
from ..store.scheduling import utc_now
from ..zones import time_zone
from .common import fail, parse_day, with_store

campaign_app = typer.Typer(
    rich_markup_mode=None, help="Call many patients, safely.", no_args_is_help=True
)


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


def options_said(policy: Policy) -> str:
    """The options a campaign calls with, as its operator gave them."""
    minutes = round(policy.retry_after.total_seconds() / 60)
    return (
        f"{policy.max_in_flight} at once, {policy.calls_per_second:g}/s, up to "
        f"{policy.max_attempts} calls each, again after {minutes} min, voicemail "
        + ("retried" if policy.retry_voicemail else "not retried")
    )


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
        str | None,
        typer.Option(
            "--date",
            help="Call about the unconfirmed appointments that day: tomorrow, today or "
            "YYYY-MM-DD (practice time). Safe to run again: it carries on with that day's "
            "campaign.",
        ),
    ] = None,
    people_csv: Annotated[
        Path | None, typer.Option("--csv", help="Or call these people: phone,name,timezone.")
    ] = None,
    resume: Annotated[
        int | None, typer.Option(help="Carry on with campaign N after a stop.")
    ] = None,
    practice_id: Annotated[int, typer.Option("--practice", help="The practice's id.")] = 1,
    max_in_flight: Annotated[
        int | None,
        typer.Option(min=1, max=100, help="Calls at once, at most. [default: 2]"),
    ] = None,
    rate: Annotated[
        float | None, typer.Option(min=0.01, max=50, help="New calls per second. [default: 1]")
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option(min=1, max=10, help="Calls to one patient, at most. [default: 3]")
    ] = None,
    retry_minutes: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Minutes before calling again after no answer, busy or a failure (doubled "
            "each time). [default: 120]",
        ),
    ] = None,
    retry_voicemail: Annotated[
        bool | None,
        typer.Option(
            "--retry-voicemail/--no-retry-voicemail",
            help="Call again after reaching voicemail too. [default: no]",
            show_default=False,
        ),
    ] = None,
    worker_wait: Annotated[
        float,
        typer.Option(
            min=0,
            max=300,
            help="Seconds for a worker to take the first call before the run stops.",
        ),
    ] = WORKER_WAIT_S,
) -> None:
    """Run a campaign until every patient is reached, finished with, or skipped."""
    if sum(x is not None for x in (day, people_csv, resume)) != 1:
        raise fail("give exactly one of --date, --csv or --resume", 2)
    if day is not None:  # a wrong date is refused before anything else (the zone comes later)
        parse_day(day, time_zone("UTC"), now=utc_now(), flag="--date")
    try:
        livekit: LiveKitSettings = load_livekit(os.environ)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None
    options = Options(
        max_in_flight=max_in_flight,
        calls_per_second=rate,
        max_attempts=max_attempts,
        retry_minutes=retry_minutes,
        retry_voicemail=retry_voicemail,
    )
    policy = options.over(Policy())  # a new campaign's; one carried on keeps its own
    console = Console(stderr=True)
    started: list[int] = []  # the campaign, once known

    async def plan(store: Store) -> tuple[int, Policy] | None:
        if resume is not None:
            return resume, await carry_on_with(store, resume, options)
        async with store.read() as s:
            zone = await s.scalar(select(db.Practice.timezone).where(db.Practice.id == practice_id))
        if zone is None:
            raise OutboundCallerError(f"no practice with id {practice_id}")
        if day is not None:
            wanted = parse_day(day, time_zone(zone), now=utc_now(), flag="--date")
            planned = await plan_for_day(
                store,
                practice_id=practice_id,
                day=wanted,
                name=f"appointments {wanted}",
                policy=policy,
                now=utc_now(),
            )
            if planned.campaign_id is None:
                console.print(f"nothing to call on {wanted}: no unconfirmed appointments")
                return None
            if planned.existing:
                console.print(
                    f"campaign {planned.campaign_id} for {wanted} is there already: carrying "
                    f"on with it ({planned.added} appointment(s) added since)"
                )
                return planned.campaign_id, await carry_on_with(store, planned.campaign_id, options)
            console.print(
                f"campaign {planned.campaign_id}: {planned.added} unconfirmed "
                f"appointment(s) on {wanted} (resume with --resume {planned.campaign_id})"
            )
            return planned.campaign_id, policy
        assert people_csv is not None
        people = read_people(people_csv, zone)
        campaign_id, count = await plan_for_people(
            store,
            practice_id=practice_id,
            people=people,
            name=str(people_csv),
            policy=policy,
            now=utc_now(),
        )
        people_said = "1 person" if count == 1 else f"{count} people"
        console.print(f"campaign {campaign_id}: {people_said} (resume with --resume {campaign_id})")
        return campaign_id, policy

    async def work() -> Summary | None:
        store = Store(database_url(os.environ), now=utc_now)
        try:
            await store.check()
            planned = await plan(store)
            if planned is None:
                return None
            campaign_id, campaign_policy = planned
            console.print(
                f"campaign {campaign_id} calls {options_said(campaign_policy)}", soft_wrap=True
            )
            started.append(campaign_id)
            async with livekit_api(livekit) as lkapi:
                dial = livekit_dialer(
                    lkapi,
                    livekit,
                    campaign_id,
                    worker_wait=worker_wait,
                    carry_on=f"carry on with --resume {campaign_id}",
                )
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
                        policy=campaign_policy,
                        now=utc_now,
                        webhook=webhooks_configured(os.environ),
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
    except KeyboardInterrupt:
        if not started:
            raise fail("stopped before any call was placed", 130) from None
        show(_summary_now(started[0]), Console())
        raise fail(
            "stopped: calls already placed go on and report back; carry on with: "
            f"outbound-caller campaign run --resume {started[0]}",
            130,
        ) from None
    if summary is None:
        return
    show(summary, Console())
    if summary.stopped:
        raise fail(f"campaign stopped: {summary.stopped}")


def _summary_now(campaign_id: int) -> Summary:
    async def work() -> Summary:
        store = Store(database_url(os.environ), now=utc_now)
        try:
            return await summarize(store, campaign_id)
        finally:
            await store.close()

    return asyncio.run(work())


@campaign_app.command("list")
def campaign_list() -> None:
    """Every campaign: its day, how far it got, whether it is done."""

    async def work(store: Store) -> list[CampaignLine]:
        await store.check()
        return await campaign_lines(store)

    lines = with_store(work)
    typer.echo(f"{'id':>4}  {'name':<28}  {'created (UTC)':<16}  {'state':<8}  progress")
    for c in lines:
        typer.echo(
            f"{c.id:>4}  {c.name[:28]:<28}  {c.created_at:%Y-%m-%d %H:%M}  {c.state:<8}  "
            f"{c.finished} of {c.targets} finished"
            + (f", {c.in_flight} on the phone" if c.in_flight else "")
        )
    typer.echo(f"{len(lines)} campaign(s)")


@campaign_app.command("status")
def campaign_status(campaign_id: Annotated[int, typer.Argument(help="The campaign's id.")]) -> None:
    """One campaign: progress, the outcomes so far, and who is still waiting, and why."""

    async def work(store: Store) -> tuple[CampaignLine, list[Waiting], Summary]:
        await store.check()
        line, waiting = await campaign_waiting(store, campaign_id)
        return line, waiting, await summarize(store, campaign_id)

    line, waiting, summary = with_store(work)
    typer.echo(
        f"campaign {line.id} ({line.name}): {line.state}, {line.finished} of {line.targets} "
        f"finished, {len(waiting)} waiting"
    )
    show(summary, Console())
    now = utc_now()
    for w in waiting:
        typer.echo(f"  {mask(w.phone):<8}  {(w.name or '')[:24]:<24}  {w.why(now)}")
    if line.state == "stopped":
        typer.echo(f"carry on with: outbound-caller campaign run --resume {line.id}")


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
