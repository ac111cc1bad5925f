"""The operator command line: ``outbound-caller <command>``. It only parses and prints.

Exit codes: 0 done; 1 the operation failed (database unreachable, file not imported);
2 the command line itself was wrong.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .config import ENV_FILE, read_env_file
from .errors import OutboundCallerError
from .importer import ImportFailed
from .phone import mask
from .scheduling import utc_now
from .store import Store, StoreError, database_url, redact

T = TypeVar("T")

app = typer.Typer(
    help="Operator commands for the outbound-caller phone agent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The scheduling database.", no_args_is_help=True)
appointments_app = typer.Typer(
    help="Appointments in the scheduling database.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(appointments_app, name="appointments")


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"outbound-caller: {message}", err=True)
    return typer.Exit(code)


def _with_store(work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store named by DATABASE_URL (a SQLite file here by default), run, close."""
    try:
        url = database_url(os.environ)
    except StoreError as exc:
        raise _fail(str(exc), 2) from None

    async def _run() -> T:
        store = Store(url, now=utc_now)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(_run())
    except ImportFailed:
        raise
    except OutboundCallerError as exc:
        raise _fail(str(exc)) from None


@app.callback()
def _root() -> None:
    """Operator commands for the outbound-caller phone agent."""


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the scheduling database, or migrate it to the latest schema."""

    async def work(store: Store) -> None:
        await store.ping()
        await store.upgrade()
        await store.check()

    _with_store(work)
    typer.echo(f"database at {redact(database_url(os.environ))} is up to date")


@db_app.command("seed-demo")
def db_seed_demo() -> None:
    """Fill an empty database with the demo practice (three providers, two weeks of visits)."""
    from .seed import seed_demo

    async def work(store: Store) -> tuple[int, int]:
        await store.upgrade()
        practice_id = await seed_demo(store, today=utc_now().date())
        return practice_id, len(await store.appointments())

    practice_id, count = _with_store(work)
    typer.echo(f"demo practice #{practice_id} ready: {count} appointments")


@appointments_app.command("list")
def appointments_list(
    day: Annotated[
        str | None, typer.Option("--date", help="Only this day (YYYY-MM-DD, practice time).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="Only this status: scheduled, confirmed, rescheduled, cancelled."),
    ] = None,
) -> None:
    """List appointments, oldest first."""
    wanted: date | None = None
    if day is not None:
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            raise _fail(f"--date {day!r} is not a date like 2026-12-01", 2) from None
    if status is not None and status not in ("scheduled", "confirmed", "rescheduled", "cancelled"):
        raise _fail(
            f"--status {status!r} is not one of scheduled, confirmed, rescheduled, cancelled", 2
        )

    async def work(store: Store) -> list[str]:
        await store.check()
        rows = await store.appointments(status=status)
        lines = []
        zones: dict[int, Any] = {}
        for r in rows:
            if r.practice_id not in zones:
                zones[r.practice_id] = (await store.practice(r.practice_id)).zone
            local = r.start.astimezone(zones[r.practice_id])
            if wanted is not None and local.date() != wanted:
                continue
            lines.append(
                f"{r.id:>6}  {local:%a %Y-%m-%d %H:%M %Z}  {r.patient_name[:24]:<24}  "
                f"{mask(r.patient_phone):<8}  {r.provider_name[:18]:<18}  {r.type_name[:12]:<12}"
                f"  {r.status}"
            )
        return lines

    lines = _with_store(work)
    typer.echo(
        f"{'id':>6}  {'when':<24}  {'patient':<24}  {'phone':<8}  {'provider':<18}  "
        f"{'type':<12}  status"
    )
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} appointment(s)")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="patients.csv or appointments.csv")],
) -> None:
    """Import patients or appointments from CSV (all rows or none; see the README)."""
    from .importer import import_csv

    async def work(store: Store) -> Any:
        await store.check()
        return await import_csv(store, file, now=utc_now)

    try:
        result = _with_store(work)
    except ImportFailed as exc:
        for problem in exc.problems:
            typer.echo(f"{file}: {problem}", err=True)
        raise _fail(f"{file}: {exc}") from None
    typer.echo(f"imported {result.rows} {result.kind} from {file}")


@app.command()
def demo(
    live_llm: Annotated[
        bool,
        typer.Option("--live-llm", help="Use the real OpenAI model (needs OPENAI_API_KEY)."),
    ] = False,
) -> None:
    """Play one complete appointment call offline, turn by turn, against the store."""
    from .demo import run_demo

    model = None
    if live_llm:
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key:
            raise _fail("--live-llm needs OPENAI_API_KEY to be set", 2)
        from livekit.plugins import openai

        model = openai.LLM(model=os.environ.get("LLM_MODEL") or "gpt-4o", api_key=key)
    _with_store(lambda store: run_demo(store, now=utc_now(), model=model, out=typer.echo))


def main() -> None:
    for key, value in read_env_file(Path(ENV_FILE)).items():
        os.environ.setdefault(key, value)
    app()
