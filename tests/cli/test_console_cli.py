"""``outbound-caller user`` makes the console's accounts; ``outbound-caller console`` serves
it, refusing to start without a secret or anyone to log in, and stops cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from console_served import serve_console
from console_world import START, run, seed
from livekit_stub import LiveKitStub
from outbound_caller.cli.main import app
from outbound_caller.store.users import LOCK_AFTER, check_login


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("CONSOLE_SECRET", raising=False)
    return tmp_path


def cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin, env=env)
    return result.exit_code, result.output


URL = "sqlite+aiosqlite:///outbound-caller.db"


def test_user_add_list_and_password(here: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    assert cli(
        "user", "add", "ann", "--role", "admin", "--password-stdin", stdin="ann's password 1\n"
    ) == (
        0,
        "user ann (admin) can now log in to the console\n",
    )
    code, out = cli("user", "add", "ann", "--password-stdin", stdin="another password\n")
    assert (code, out) == (1, "outbound-caller: there is a user 'ann' already\n")
    code, out = cli("user", "add", "bo", "--password-stdin", stdin="short\n")
    assert (code, out) == (1, "outbound-caller: the password must have at least 12 characters\n")
    code, out = cli("user", "add", "bo", "--role", "owner", "--password-stdin", stdin="x" * 12)
    assert code == 2
    assert "--role 'owner' is not one of: staff, admin" in out
    # asked twice when typed
    code, out = cli("user", "add", "sam", stdin="sam's password\nsam's password\n")
    assert code == 0, out
    assert (
        cli("user", "list")[1]
        == "ann                       admin\nsam                       staff\n2 user(s)\n"
    )

    async def lock(store):  # type: ignore[no-untyped-def]
        for _ in range(LOCK_AFTER):
            await check_login(store, "sam", "wrong", now=START)
        return await check_login(store, "sam", "sam's password", now=START)

    assert run(URL, lock).user is None  # locked
    code, out = cli("user", "password", "sam", "--password-stdin", stdin="sam's new password\n")
    assert (code, out) == (0, "user sam: new password set; the account is unlocked\n")

    async def again(store):  # type: ignore[no-untyped-def]
        return await check_login(store, "sam", "sam's new password", now=START)

    assert run(URL, again).user is not None
    assert cli("user", "password", "zed", "--password-stdin", stdin="z" * 12) == (
        1,
        "outbound-caller: no user 'zed'\n",
    )


def test_the_console_will_not_start_without_a_secret_or_anyone_to_log_in(here: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    code, out = cli("console")
    assert code == 2
    assert "set CONSOLE_SECRET to a random string of at least 32 characters" in out
    code, out = cli("console", env={"CONSOLE_SECRET": "s" * 40})
    assert (code, out) == (
        1,
        "outbound-caller: nobody can log in yet: outbound-caller user add NAME --role admin\n",
    )


async def test_the_console_serves_and_stops_cleanly(
    tmp_path: Path, livekit_server: LiveKitStub
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'console.db'}"
    await asyncio.to_thread(seed, url)
    log = tmp_path / "console.log"
    async with serve_console(url, livekit_server, log) as served, httpx.AsyncClient() as client:
        assert (await client.get(f"{served.url}/health")).text == "ok"
        login = await client.get(f"{served.url}/login")
        assert login.status_code == 200
        assert (await client.get(f"{served.url}/today")).status_code == 303
    assert served.exit_code == 0
    text = log.read_text()
    assert "Traceback" not in text
    assert text.startswith("console on http://127.0.0.1:")
    assert text.endswith("console stopped\n")
