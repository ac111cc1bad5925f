"""The operator command line: ``outbound-caller <command>``. It only parses and prints.

Exit codes: 0 done; 1 the operation failed (database unreachable, file not imported);
2 the command line itself was wrong.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from ..config import ENV_FILE, LiveKitSettings, load_livekit, read_env_file
from ..dispatch import DispatchMetadata
from ..errors import (
    AppointmentNotFound,
    ConfigError,
    OutboundCallerError,
    SlotUnavailable,
    StoreError,
)
from ..liveapi import (
    MEDIA_ENCRYPTION,
    TrunkCheck,
    check_trunk,
    create_call,
    create_trunk,
    livekit_api,
    new_room_name,
    parse_address,
)
from ..phone import mask, to_e164
from ..store.appointments import Store, open_store
from ..store.calls import (
    dial_problem,
    dnc_add,
    dnc_list,
    dnc_remove,
    record_placed,
)
from ..store.database import DEMO_SQLITE_FILE, database_url, redact
from ..store.importer import ImportFailed
from ..store.scheduling import utc_now
from .common import fail, with_store
from .console import console, user_app

T = TypeVar("T")

app = typer.Typer(
    rich_markup_mode=None,
    help="Operator commands for the outbound-caller phone agent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(rich_markup_mode=None, help="The scheduling database.", no_args_is_help=True)
appointments_app = typer.Typer(
    rich_markup_mode=None, help="Appointments in the scheduling database.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(appointments_app, name="appointments")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"outbound-caller {version('outbound-caller')}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Operator commands for the outbound-caller phone agent."""


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the scheduling database, or migrate it to the latest schema."""

    async def work(store: Store) -> tuple[str | None, str]:
        before, head = await store.revisions()
        await store.upgrade()
        await store.check()
        return before, head

    before, head = with_store(work)
    where = f"database at {redact(database_url(os.environ))}"
    if before is None:
        typer.echo(f"{where}: schema created (revision {head})")
    elif before != head:
        typer.echo(f"{where}: migrated from revision {before} to {head}")
    else:
        typer.echo(f"{where} is up to date (revision {head})")


@db_app.command("seed-demo")
def db_seed_demo() -> None:
    """Fill an empty database with the demo practice (three providers, two weeks of visits)."""
    from ..store.seed import seed_demo

    async def work(store: Store) -> tuple[int, int]:
        await store.upgrade()
        practice_id = await seed_demo(store, today=utc_now().date())
        return practice_id, len(await store.appointments())

    practice_id, count = with_store(work)
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
            raise fail(f"--date {day!r} is not a date like 2026-12-01", 2) from None
    if status is not None and status not in ("scheduled", "confirmed", "rescheduled", "cancelled"):
        raise fail(
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

    lines = with_store(work)
    typer.echo(
        f"{'id':>6}  {'when':<24}  {'patient':<24}  {'phone':<8}  {'provider':<18}  "
        f"{'type':<12}  status"
    )
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} appointment(s)")


@appointments_app.command("set-status")
def appointments_set_status(
    appointment_id: Annotated[int, typer.Argument(help="The appointment's id.")],
    status: Annotated[str, typer.Argument(help="scheduled, confirmed, rescheduled or cancelled.")],
) -> None:
    """Set an appointment's status (the patient called the desk); its history records it."""
    from ..store.appointments import STATUSES

    if status not in STATUSES:
        raise fail(f"{status!r} is not one of: {', '.join(STATUSES)}", 2)

    async def work(store: Store) -> tuple[str, str]:
        await store.check()
        try:
            before = (await store.appointment(appointment_id)).status
        except AppointmentNotFound:
            raise StoreError(f"there is no appointment {appointment_id}") from None
        try:
            return before, (await store.set_status(appointment_id, status, by="operator")).status
        except SlotUnavailable as exc:
            raise StoreError(f"appointment {appointment_id} stays cancelled: {exc}") from None

    before, after = with_store(work)
    if before == after:
        typer.echo(f"appointment {appointment_id} was {after} already")
    else:
        typer.echo(f"appointment {appointment_id}: {before} -> {after}")


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="patients.csv or appointments.csv")],
    update: Annotated[
        bool,
        typer.Option(
            "--update",
            help="Change what is on file where a row says otherwise: a patient by phone, an "
            "appointment by external_id (re-importing the practice's export).",
        ),
    ] = False,
    outside_hours: Annotated[
        bool,
        typer.Option(
            "--outside-hours",
            help="Accept appointments outside the practice's or the provider's hours.",
        ),
    ] = False,
) -> None:
    """Import patients or appointments from CSV (all rows or none; see the README)."""
    from ..store.importer import import_csv

    async def work(store: Store) -> Any:
        await store.check()
        return await import_csv(
            store, file, now=utc_now, outside_hours=outside_hours, update=update
        )

    try:
        result = with_store(work)
    except ImportFailed as exc:
        if len(exc.problems) == 1 and not exc.problems[0].startswith("line "):
            raise fail(f"nothing imported from {file}: {exc.problems[0]}") from None  # the file
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise fail(f"nothing imported from {file}: {len(exc.problems)} problem(s)") from None
    said = f"imported {result.rows} {result.kind} from {file}"
    if result.added != result.rows:  # some were on file already
        said += f": {result.added} added, {result.updated} updated, "
        said += f"{result.unchanged} already on file as they are"
    typer.echo(said)


@app.command()
def demo(
    live_llm: Annotated[
        bool,
        typer.Option("--live-llm", help="Use the real OpenAI model (needs OPENAI_API_KEY)."),
    ] = False,
    database: Annotated[
        str,
        typer.Option(
            help="The demo's own database (never DATABASE_URL: the demo moves appointments).",
        ),
    ] = f"sqlite:///{DEMO_SQLITE_FILE}",
) -> None:
    """Play one complete appointment call offline, turn by turn, against its own store."""
    from .demo import run_demo

    try:
        url = database_url({"DATABASE_URL": database})
    except StoreError as exc:
        raise fail(str(exc), 2) from None

    model = None
    if live_llm:
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key:
            raise fail("--live-llm needs OPENAI_API_KEY to be set", 2)
        from livekit.plugins import openai

        model = openai.LLM(model=os.environ.get("LLM_MODEL") or "gpt-4o", api_key=key)
    with_store(lambda store: run_demo(store, now=utc_now(), model=model, out=typer.echo), url=url)


from .calls import calls_app  # noqa: E402
from .campaign import campaign_app  # noqa: E402
from .patients import patients_app  # noqa: E402
from .practice import practice_app, provider_app, type_app  # noqa: E402
from .webhooks import webhooks_app  # noqa: E402

app.add_typer(campaign_app, name="campaign")
app.add_typer(patients_app, name="patients")
app.add_typer(practice_app, name="practice")
app.add_typer(provider_app, name="provider")
app.add_typer(type_app, name="appointment-type")


def main() -> None:
    for key, value in read_env_file(Path(ENV_FILE)).items():
        os.environ.setdefault(key, value)
    # a connection lost mid-write makes asyncio warn once per further write ("socket.send()
    # raised exception."); the command says what happened in its own one line
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    app()


# -- placing calls ---------------------------------------------------------------------

trunk_app = typer.Typer(rich_markup_mode=None, help="The outbound SIP trunk.", no_args_is_help=True)
dnc_app = typer.Typer(rich_markup_mode=None, help="The do-not-call list.", no_args_is_help=True)
app.add_typer(trunk_app, name="trunk")
app.add_typer(calls_app, name="calls")
app.add_typer(dnc_app, name="dnc")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(user_app, name="user")
app.command("console")(console)


def _livekit() -> LiveKitSettings:
    try:
        return load_livekit(os.environ)
    except ConfigError as exc:
        raise fail(str(exc), 2) from None


def _e164(value: str, what: str) -> str:
    try:
        return to_e164(value)
    except ValueError as exc:
        raise fail(f"{what} {value!r} {exc}", 2) from None


def _run(work: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(work)
    except OutboundCallerError as exc:
        raise fail(str(exc)) from None


@app.command()
def call(
    phone_number: Annotated[str, typer.Argument(help="The number to call, E.164 (+1...).")],
    transfer_to: Annotated[
        str | None, typer.Option("--transfer-to", help="Where transfer_call sends the callee.")
    ] = None,
    appointment_id: Annotated[
        int | None, typer.Option("--appointment-id", help="An appointment in the store.")
    ] = None,
    override_do_not_call: Annotated[
        bool,
        typer.Option(
            "--override-do-not-call",
            help="Call a number on the do-not-call list (the patient asked to be called).",
        ),
    ] = False,
) -> None:
    """Place one call: dispatch the outbound-caller agent to a new room. Refused for a
    number on the do-not-call list, and for an appointment that is not that number's."""
    try:
        meta = DispatchMetadata(
            phone_number=phone_number, transfer_to=transfer_to, appointment_id=appointment_id
        )
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'call'}: "
            f"{str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise fail(f"not calling: {reasons}", 2) from None
    settings = _livekit()
    room = new_room_name()

    async def work() -> str:
        store = open_store(os.environ)
        if store is None and appointment_id is not None:
            raise OutboundCallerError(
                "not calling: --appointment-id needs the scheduling store "
                "(DATABASE_URL, or outbound-caller.db here)"
            )
        try:
            if store is not None:
                problem = await dial_problem(
                    store,
                    phone=meta.phone_number,
                    appointment_id=appointment_id,
                    override_dnc=override_do_not_call,
                )
                if problem is not None:
                    raise OutboundCallerError(f"not calling: {problem}")
            async with livekit_api(settings) as lkapi:
                dispatch = await create_call(lkapi, meta, room=room)
            if store is not None:
                await record_placed(
                    store,
                    room=room,
                    phone=meta.phone_number,
                    placed_at=utc_now(),
                    appointment_id=appointment_id,
                    dispatch_id=dispatch.id,
                )
        finally:
            if store is not None:
                await store.close()
        return dispatch.id

    dispatch_id = _run(work())
    typer.echo(f"dispatch {dispatch_id} created; room {room}; calling {mask(meta.phone_number)}")


@trunk_app.command("create")
def trunk_create(
    address: Annotated[str, typer.Option(help="Your provider's SIP server, HOST[:5061].")],
    numbers: Annotated[list[str], typer.Option("--numbers", help="Caller id number(s), E.164.")],
    username: Annotated[str, typer.Option(help="Digest authentication username.")],
    password: Annotated[
        str | None,
        typer.Option(
            help="Digest authentication password; better left out: it is then read from "
            "SIP_TRUNK_PASSWORD, or asked for without echo (a flag shows in the shell history).",
        ),
    ] = None,
    name: Annotated[str, typer.Option(help="A name for the trunk.")] = "outbound-caller",
    media_encryption: Annotated[
        str,
        typer.Option(
            help="SRTP for the voice: off (plain RTP, any carrier), require or allow (both "
            "offer SRTP only; a carrier without SRTP refuses the call)."
        ),
    ] = "off",
) -> None:
    """Create an outbound SIP trunk with TLS transport, digest authentication and SRTP."""
    if media_encryption not in MEDIA_ENCRYPTION:
        raise fail("--media-encryption must be one of: off, allow, require", 2)
    if address.strip().lower().startswith(("sip:", "sips:")):
        raise fail(f"--address {address!r}: leave out the sip: prefix (HOST or HOST:PORT)", 2)
    try:
        parse_address(address)
    except ValueError as exc:
        raise fail(f"--address {exc}", 2) from None
    checked = [_e164(n, "--numbers") for n in numbers]
    if password is None:
        password = os.environ.get("SIP_TRUNK_PASSWORD", "").strip() or typer.prompt(
            "SIP trunk password", hide_input=True, default="", show_default=False
        )
    if not username or not password:
        raise fail("--username and the password must not be empty", 2)
    settings = _livekit()

    async def work() -> str:
        async with livekit_api(settings) as lkapi:
            return await create_trunk(
                lkapi,
                name=name,
                address=address,
                numbers=checked,
                username=username,
                password=password,
                media_encryption=media_encryption,
            )

    trunk_id = _run(work())
    typer.echo(trunk_id)
    typer.echo(f"set SIP_OUTBOUND_TRUNK_ID={trunk_id} in .env.local", err=True)


@trunk_app.command("check")
def trunk_check() -> None:
    """Check that SIP_OUTBOUND_TRUNK_ID exists, uses TLS and has credentials."""
    trunk_id = os.environ.get("SIP_OUTBOUND_TRUNK_ID", "").strip()
    if not trunk_id.startswith("ST_"):
        raise fail("SIP_OUTBOUND_TRUNK_ID is not set to a trunk id (ST_...)", 2)
    settings = _livekit()

    async def work() -> TrunkCheck:
        async with livekit_api(settings) as lkapi:
            return await check_trunk(lkapi, trunk_id)

    result = _run(work())
    if not result.ok:
        for problem in result.problems:
            typer.echo(f"outbound-caller: {problem}", err=True)
        raise typer.Exit(1)
    for warning in result.warnings:
        typer.echo(f"outbound-caller: warning: {warning}", err=True)
    typer.echo(f"trunk {trunk_id}: TLS, with credentials, {result.media}")


@dnc_app.command("add")
def dnc_add_cmd(
    phone: Annotated[str, typer.Argument(help="The number, E.164.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the entry).")] = "operator",
) -> None:
    """Never call this number again."""
    number = _e164(phone, "number")

    async def work(store: Store) -> bool:
        await store.check()
        return await dnc_add(store, number, reason=reason, by="operator", at=utc_now())

    added = with_store(work)
    typer.echo(f"{mask(number)} {'added to' if added else 'was already on'} the do-not-call list")


@dnc_app.command("remove")
def dnc_remove_cmd(phone: Annotated[str, typer.Argument(help="The number, E.164.")]) -> None:
    """Take a number off the do-not-call list."""
    number = _e164(phone, "number")

    async def work(store: Store) -> bool:
        await store.check()
        return await dnc_remove(store, number)

    if not with_store(work):
        raise fail(f"{mask(number)} is not on the do-not-call list")
    typer.echo(f"{mask(number)} removed from the do-not-call list")


@dnc_app.command("list")
def dnc_list_cmd(
    full: Annotated[bool, typer.Option(help="Show whole numbers, not the last four.")] = False,
) -> None:
    """The do-not-call list (numbers masked unless --full)."""

    async def work(store: Store) -> list[Any]:
        await store.check()
        return await dnc_list(store)

    entries = with_store(work)
    width = 16 if full else 8
    for e in entries:
        number = e.phone if full else mask(e.phone)
        typer.echo(f"{number:<{width}}  {e.added_at:%Y-%m-%d}  {e.reason}")
    typer.echo(f"{len(entries)} number(s)")
