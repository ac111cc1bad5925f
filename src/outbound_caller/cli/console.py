"""``outbound-caller console`` serves the practice's web console; ``outbound-caller user``
makes the accounts that log in to it."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Annotated

import typer

from ..campaigns.dialing import livekit_dialers
from ..config import webhooks_configured
from ..store.appointments import Store
from ..store.database import database_url
from ..store.scheduling import utc_now
from ..store.users import ROLES, add_user, list_users, set_password
from .common import fail, with_store

user_app = typer.Typer(
    rich_markup_mode=None, help="Who may log in to the web console.", no_args_is_help=True
)
SECRET = "CONSOLE_SECRET"


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The name they log in with.")],
    role: Annotated[
        str, typer.Option(help="staff: view and run campaigns; admin: also set-up and users.")
    ] = "staff",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Make an account for the web console (the password is asked for, twice)."""
    if role not in ROLES:
        raise fail(f"--role {role!r} is not one of: {', '.join(ROLES)}", 2)
    password = _password(password_stdin)

    async def work(store: Store) -> None:
        await store.check()
        await add_user(store, name, password, role, now=utc_now())

    with_store(work)
    typer.echo(f"user {name} ({role}) can now log in to the console")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="The user.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Set a new password; it also unlocks the account and logs out its sessions."""
    password = _password(password_stdin)

    async def work(store: Store) -> None:
        await store.check()
        await set_password(store, name, password)

    with_store(work)
    typer.echo(f"user {name}: new password set; the account is unlocked")


@user_app.command("list")
def user_list() -> None:
    """The console's accounts."""

    async def work(store: Store) -> list[tuple[str, str]]:
        await store.check()
        return [(u.name, u.role) for u in await list_users(store)]

    users = with_store(work)
    for name, role in users:
        typer.echo(f"{name:<24}  {role}")
    typer.echo(f"{len(users)} user(s)")


def console(
    host: Annotated[
        str, typer.Option(help="The address to listen on (keep 127.0.0.1 behind a proxy).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port.")] = 8080,
    https: Annotated[
        bool,
        typer.Option(
            "--https", help="Served over HTTPS (by a proxy in front): cookies are Secure."
        ),
    ] = False,
    forwarded_allow_ips: Annotated[
        str, typer.Option(help="Proxies whose X-Forwarded-For is believed.")
    ] = "127.0.0.1",
) -> None:
    """Serve the practice's web console: today's calls, appointments, campaigns, imports,
    the do-not-call list and the practice's set-up, behind a log-in."""
    import uvicorn

    from ..console.app import Console, create_app
    from ..console.security import MIN_SECRET

    secret = os.environ.get(SECRET, "")
    if len(secret) < MIN_SECRET:
        raise fail(
            f"set {SECRET} to a random string of at least {MIN_SECRET} characters "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            2,
        )

    async def check(store: Store) -> int:
        await store.check()
        return len(await list_users(store))

    if with_store(check) == 0:
        raise fail("nobody can log in yet: outbound-caller user add NAME --role admin", 1)
    store = Store(database_url(os.environ), now=utc_now)
    app = create_app(
        Console(
            store,
            secret=secret,
            now=utc_now,
            dialers=livekit_dialers(os.environ, carry_on="press Resume on the campaign's page"),
            secure_cookies=https,
            webhook=webhooks_configured(os.environ),
        ),
        close_store=True,
    )
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("sqlalchemy").setLevel(logging.WARNING)
    typer.echo(f"console on http://{host}:{port}/ (Ctrl-C stops it)", err=True)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then raises the signal again
    # (with the handlers that were there before it): a stop asked for is a clean exit
    signal.signal(signal.SIGTERM, _stopped)
    signal.signal(signal.SIGINT, _stopped)
    uvicorn.run(
        app,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level="warning",
        access_log=False,
    )


def _stopped(signum: int, frame: object) -> None:
    typer.echo("console stopped", err=True)
    raise SystemExit(0)
