"""`outbound-caller practice | provider | appointment-type`: a practice sets itself up and
changes its set-up without SQL; every command's exit code, words and rows."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from outbound_caller.cli.main import app
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.practice_spec import PracticeSpec
from outbound_caller.store.practices import load_spec
from practice_files import BAD_FILE, PRACTICE_FILE

T = TypeVar("T")


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty directory, the default SQLite store in it, no PRACTICE_* settings."""
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "PRACTICE_NAME", "PRACTICE_TIMEZONE", "PRACTICE_CALLBACK_NUMBER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def in_store(here: Path, work: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    async def run() -> T:
        store = Store(f"sqlite+aiosqlite:///{here / 'outbound-caller.db'}", now=lambda: NOW)
        await store.upgrade()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


NOW = datetime(2026, 12, 1, 15, tzinfo=UTC)


def spec(here: Path) -> PracticeSpec:
    return in_store(here, load_spec)


def rows(here: Path, table: type[db.Base]) -> int:
    async def work(store: Store) -> int:
        async with store.read() as s:
            return int(await s.scalar(select(func.count()).select_from(table)) or 0)

    return in_store(here, work)


def test_apply_sets_up_a_new_practice_then_finds_nothing_to_change(here: Path) -> None:
    (here / "practice.yaml").write_text(PRACTICE_FILE)
    code, out, err = cli("practice", "apply", "practice.yaml")
    assert (code, err) == (0, "")
    assert out == (
        "practice #1 Riverside Family Dentistry created: 2 appointment type(s), 2 provider(s)\n"
    )
    assert spec(here).practice.name == "Riverside Family Dentistry"
    code, out, _ = cli("practice", "apply", "practice.yaml")
    assert code == 0
    assert out == "practice #1 is already as practice.yaml describes; nothing changed\n"


def test_a_bad_file_names_each_problem_by_line_and_sets_up_nothing(here: Path) -> None:
    (here / "practice.yaml").write_text(BAD_FILE)
    code, out, err = cli("practice", "apply", "practice.yaml")
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith("line 3: practice.timezone: 'America/Chicagoo' is not a known")
    assert len(lines) == 13
    assert lines[-1] == "outbound-caller: nothing applied: 12 problem(s) in practice.yaml"
    assert "Traceback" not in err
    assert rows(here, db.Practice) == 0


def test_a_missing_file_is_one_line(here: Path) -> None:
    code, _, err = cli("practice", "apply", "nowhere.yaml")
    assert code == 2
    assert err == "outbound-caller: cannot read nowhere.yaml: No such file or directory\n"


def test_show_prints_a_file_that_applies_back_unchanged(here: Path) -> None:
    (here / "practice.yaml").write_text(PRACTICE_FILE)
    cli("practice", "apply", "practice.yaml")
    code, shown, _ = cli("practice", "show")
    assert code == 0
    assert "name: Riverside Family Dentistry\n" in shown
    assert "    monday: 08:00-12:00, 13:00-17:00\n" in shown
    (here / "shown.yaml").write_text(shown)
    assert cli("practice", "apply", "shown.yaml")[1].endswith("nothing changed\n")


def test_before_any_set_up_the_commands_say_how_to_start(here: Path) -> None:
    assert cli("db", "upgrade")[0] == 0
    for command in (["practice", "show"], ["provider", "list"], ["appointment-type", "list"]):
        code, _, err = cli(*command)
        assert code == 1, command
        assert err == (
            "outbound-caller: no practice is set up yet: "
            "outbound-caller practice apply practice.yaml\n"
        )


def test_a_practice_is_built_one_command_at_a_time(here: Path) -> None:
    code, out, err = cli(
        "practice",
        "create",
        "--name",
        "Lakeside Dental",
        "--timezone",
        "America/Denver",
        "--callback-number",
        "+1 303 555 0100",
        "--hours",
        "mon-fri=08:00-12:00,13:00-17:00",
        "--hours",
        "sat=09:00-12:00",
    )
    assert (code, err) == (0, "")
    assert out == "practice #1 Lakeside Dental created\n"
    assert cli("appointment-type", "add", "Check-up", "--minutes", "30")[1] == (
        "appointment type Check-up added\n"
    )
    assert cli("appointment-type", "add", "Whitening", "--minutes", "60")[0] == 0
    code, out, _ = cli(
        "provider",
        "add",
        "Dr. Ana Ruiz",
        "--role",
        "dentist",
        "--hours",
        "weekdays=08:00-12:00",
        "--does",
        "check-up, Whitening",
    )
    assert (code, out) == (0, "provider Dr. Ana Ruiz added\n")
    assert cli("provider", "set", "dr. ana ruiz", "--hours", "friday=closed")[0] == 0
    assert cli("appointment-type", "set", "Whitening", "--minutes", "90")[0] == 0
    assert cli("practice", "set", "--address", "9 Lake St", "--parking", "Street parking.")[0] == 0
    assert cli("practice", "close", "2026-12-24", "--reason", "Christmas Eve")[1] == (
        "closed on Thu 2026-12-24\n"
    )

    now = spec(here)
    p = now.practice
    assert (p.callback_number, p.address, p.parking) == (
        "+13035550100",
        "9 Lake St",
        "Street parking.",
    )
    assert sorted(p.hours) == ["friday", "monday", "saturday", "thursday", "tuesday", "wednesday"]
    assert p.hours["saturday"] == [(time(9), time(12))]
    assert [(t.name, t.minutes) for t in now.appointment_types] == [
        ("Check-up", 30),
        ("Whitening", 90),
    ]
    [ruiz] = now.providers
    assert ruiz.does == ["Check-up", "Whitening"]
    assert sorted(ruiz.hours) == ["monday", "thursday", "tuesday", "wednesday"]
    assert [d.isoformat() for d in p.closed] == ["2026-12-24"]

    code, out, _ = cli("appointment-type", "list")
    assert out.splitlines() == [
        "Check-up                   30 min  Dr. Ana Ruiz",
        "Whitening                  90 min  Dr. Ana Ruiz",
        "2 appointment type(s)",
    ]
    code, out, _ = cli("provider", "list")
    assert out.splitlines()[0] == "Dr. Ana Ruiz (dentist): does Check-up, Whitening"
    assert "    monday     08:00-12:00" in out.splitlines()
    code, out, _ = cli("practice", "list")
    assert "Lakeside Dental" in out.splitlines()[1]
    assert out.splitlines()[1].endswith("1 provider(s), 2 type(s), 0 patient(s)")

    # taking things away again
    assert cli("practice", "reopen", "2026-12-24")[1] == "open again on Thu 2026-12-24\n"
    assert cli("appointment-type", "remove", "whitening")[1] == (
        "appointment type whitening removed\n"
    )
    assert cli("provider", "remove", "Dr. Ana Ruiz")[0] == 0
    after = spec(here)
    assert (after.practice.closed, after.providers) == ({}, [])
    assert [t.name for t in after.appointment_types] == ["Check-up"]


def test_the_same_change_twice_says_there_was_nothing_to_change(here: Path) -> None:
    (here / "practice.yaml").write_text(PRACTICE_FILE)
    cli("practice", "apply", "practice.yaml")
    assert cli("practice", "set", "--parking", "Garage on 5th.")[1] == "practice updated\n"
    assert cli("practice", "set", "--parking", "Garage on 5th.")[1] == (
        "nothing to change: it was already so\n"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["practice", "set", "--timezone", "Mars/Base"], 2, "practice.timezone: 'Mars/Base' is"),
        (["practice", "set", "--call-window", "21:00-08:00"], 2, "ends before it starts"),
        (["practice", "set", "--hours", "funday=08:00-12:00"], 2, "'funday' is not a weekday"),
        (["practice", "set", "--hours", "monday"], 2, "give DAY=PERIODS"),
        (["practice", "close", "next friday"], 2, "'next friday' is not a date"),
        (["practice", "reopen", "2026-12-31"], 1, "the practice is not closed on 2026-12-31"),
        (
            ["practice", "create", "--name", "X", "--timezone", "UTC", "--callback-number", "+1"],
            2,
            "a practice is set up already",
        ),
        (["provider", "add", "Sam Lee", "--role", "hygienist"], 2, "there is a provider 'Sam Lee'"),
        (
            ["provider", "set", "Dr. Who", "--role", "x"],
            1,
            "there is no provider 'Dr. Who' (there are: 'Dr. Ana Ruiz', 'Sam Lee')",
        ),
        (["provider", "set", "Sam Lee", "--does", "Root canal"], 2, "'Root canal': not among"),
        (["appointment-type", "add", "Cleaning", "--minutes", "20"], 2, "there is an appointment"),
        (
            ["appointment-type", "set", "Cleaning", "--minutes", "600"],
            2,
            "less than or equal to 480",
        ),
    ],
)
def test_a_wrong_change_says_why_and_changes_nothing(
    here: Path, args: list[str], code: int, message: str
) -> None:
    (here / "practice.yaml").write_text(PRACTICE_FILE)
    cli("practice", "apply", "practice.yaml")
    before = spec(here)
    got, _, err = cli(*args)
    assert got == code, err
    assert message in err
    assert err.startswith("outbound-caller: ")
    assert len(err.splitlines()) == 1
    assert spec(here) == before


def test_settings_that_disagree_with_the_store_are_named(
    here: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (here / "practice.yaml").write_text(PRACTICE_FILE)
    monkeypatch.setenv("PRACTICE_NAME", "Bright Smile Dental")
    monkeypatch.setenv("PRACTICE_CALLBACK_NUMBER", "+1 (312) 555-0100")  # the same number
    code, _, err = cli("practice", "apply", "practice.yaml")
    assert code == 0
    assert err == (
        "outbound-caller: note: settings that disagree with the store's practice: "
        "PRACTICE_NAME (environment or .env.local); calls about stored appointments use the "
        "store's, so change or remove those settings\n"
    )
    monkeypatch.setenv("PRACTICE_NAME", "Riverside Family Dentistry")
    assert cli("practice", "show")[2] == ""
