"""The day's records as the front desk reads them: `calls list` (filters, no column cut off,
JSON and formula-safe CSV), `patients list | show`, `appointments set-status`."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from outbound_caller.cli.main import app
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome, record_placed

NOW = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)  # 15:30 in New York
JANE, RAJ = "+14155550123", "+17735550177"


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo practice in the default SQLite store, seeded and read on a fixed clock
    (the demo's appointments are laid out from the day it is seeded)."""
    from outbound_caller.cli import calls, common, main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for module in (calls, common, main):
        monkeypatch.setattr(module, "utc_now", lambda: NOW)
    assert cli("db", "seed-demo")[0] == 0
    return tmp_path


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def add_calls(here: Path) -> None:
    """Two calls today (Jane answered and moved an appointment with a long note, Raj was
    busy) and one yesterday."""

    async def work() -> None:
        store = Store(f"sqlite+aiosqlite:///{here / 'outbound-caller.db'}", now=lambda: NOW)
        try:
            jane = next(a for a in await store.appointments() if a.patient_phone == JANE)
            for room, phone, at, status, appointment in (
                ("call-a", JANE, NOW - timedelta(hours=6), CallStatus.ANSWERED, jane.id),
                ("call-b", RAJ, NOW - timedelta(hours=5), CallStatus.BUSY, None),
                ("call-c", RAJ, NOW - timedelta(days=1), CallStatus.NO_ANSWER, None),
            ):
                await record_placed(
                    store, room=room, phone=phone, placed_at=at, appointment_id=appointment
                )
                record = CallRecord(
                    started_at=at, status=status, ended_at=at + timedelta(minutes=2)
                )
                if status is CallStatus.ANSWERED:
                    record.answered_at = at + timedelta(seconds=10)
                    record.hangup_reason = "completed"
                    record.changes = [
                        "=rescheduled from Monday the 7th of December at 10:45 in the morning "
                        "to Tuesday the 8th of December at 9 in the morning with Dr. Maya Rivera"
                    ]
                else:
                    record.sip_code = 486 if status is CallStatus.BUSY else 480
                await record_outcome(
                    store, room=room, phone=phone, appointment_id=appointment, record=record
                )
        finally:
            await store.close()

    asyncio.run(work())


def test_todays_calls_show_the_patient_the_local_time_and_everything_that_changed(
    here: Path,
) -> None:
    add_calls(here)
    code, out, err = cli("calls", "list", "--date", "today")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[-1] == "2 call(s), times in America/New_York"
    assert "Tue 12-01 09:30" in lines[1]  # 14:30 UTC, in the practice's time
    assert "Jane Doe" in lines[1]
    assert "***0123" in lines[1]
    assert JANE not in out
    assert "Raj Patel" in out
    assert "busy" in out
    assert "486" in out
    # the long change is all there, wrapped, not cut off
    assert "with Dr. Maya Rivera" in " ".join(out.split())
    assert max(len(line) for line in lines) <= 80

    code, wide, _ = cli("calls", "list", "--date", "2026-12-01", "--wide")
    [jane] = [line for line in wide.splitlines() if "Jane Doe" in line]
    assert jane.rstrip().endswith("at 9 in the morning with Dr. Maya Rivera")


def put_in_campaign(here: Path, room: str, campaign_id: int) -> None:
    async def work() -> None:
        from sqlalchemy import update

        from outbound_caller.store import schema as db

        store = Store(f"sqlite+aiosqlite:///{here / 'outbound-caller.db'}", now=lambda: NOW)
        try:
            async with store.transaction() as s:
                await s.execute(
                    update(db.Call).where(db.Call.room == room).values(campaign_id=campaign_id)
                )
        finally:
            await store.close()

    asyncio.run(work())


def test_a_campaigns_calls_are_listed_on_their_own(here: Path) -> None:
    add_calls(here)
    put_in_campaign(here, "call-b", 5)
    code, out, _ = cli("calls", "list", "--campaign", "5", "--json")
    assert code == 0
    [call] = [json.loads(line) for line in out.splitlines()]
    assert (call["patient"], call["outcome"], call["campaign_id"]) == ("Raj Patel", "busy", 5)


@pytest.mark.parametrize(
    ("args", "patients"),
    [
        (["--outcome", "busy"], ["Raj Patel"]),
        (["--date", "yesterday"], ["Raj Patel"]),
        (["--since", "2026-11-30"], ["Raj Patel", "Jane Doe", "Raj Patel"]),
        (["--date", "tomorrow"], []),
    ],
)
def test_calls_can_be_filtered(here: Path, args: list[str], patients: list[str]) -> None:
    add_calls(here)
    code, out, _ = cli("calls", "list", "--json", *args)
    assert code == 0
    assert [json.loads(line)["patient"] for line in out.splitlines()] == patients


def test_the_csv_export_is_safe_to_open_in_a_spreadsheet(here: Path) -> None:
    add_calls(here)
    code, out, _ = cli("calls", "list", "--csv", "--full", "--date", "today")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["patient"] for r in rows] == ["Jane Doe", "Raj Patel"]
    assert rows[0]["phone"] == "'" + JANE  # a leading + would start a formula
    assert rows[0]["changes"].startswith("'=rescheduled from Monday")
    assert rows[0]["placed"] == "2026-12-01T09:30:00-05:00"
    assert (rows[1]["outcome"], rows[1]["sip_code"]) == ("busy", "486")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--outcome", "happy"], "--outcome 'happy' is not one of: answered, busy"),
        (["--date", "someday"], "--date 'someday' is not a date like 2026-12-01, today or"),
        (["--json", "--csv"], "--json and --csv: choose one"),
    ],
)
def test_a_wrong_filter_is_one_line(here: Path, args: list[str], message: str) -> None:
    code, _out, err = cli("calls", "list", *args)
    assert code == 2
    assert message in err
    assert len(err.splitlines()) == 1


def test_patients_are_found_by_name_or_number_and_shown_with_their_appointments(
    here: Path,
) -> None:
    add_calls(here)
    code, out, _ = cli("patients", "list", "--search", "PATEL")
    assert code == 0
    assert out.splitlines()[-1] == "1 patient"
    assert "Raj Patel" in out
    assert "***0177" in out
    assert cli("patients", "list", "--search", "555 0177")[1] == out
    assert cli("patients", "list")[1].splitlines()[-1] == "12 patients"

    code, shown, _ = cli("patients", "show", "+1 415 555 0123")
    assert code == 0
    lines = shown.splitlines()
    assert lines[:4] == [
        "patient 1: Jane Doe",
        f"  phone          {JANE}",
        "  time zone      America/New_York",
        "  date of birth  1985-03-14",
    ]
    assert lines[4:6] == [
        "appointments (1):",
        "      21  Fri 2026-12-04 15:45 EST  Dr. Maya Rivera  Filling  scheduled",
    ]
    assert lines[-2] == "calls (1):"
    assert lines[-1].startswith("  Tue 2026-12-01 09:30 EST  answered  =rescheduled from")
    assert cli("patients", "show", "1")[1] == shown
    code, _, err = cli("patients", "show", "99")
    assert (code, err) == (1, "outbound-caller: no patient '99' on file\n")


def test_the_desk_sets_a_status_and_a_cancelled_time_comes_back_only_while_free(
    here: Path,
) -> None:
    assert cli("appointments", "set-status", "1", "confirmed")[1] == (
        "appointment 1: scheduled -> confirmed\n"
    )
    assert cli("appointments", "set-status", "1", "confirmed")[1] == (
        "appointment 1 was confirmed already\n"
    )
    assert cli("appointments", "set-status", "1", "cancelled")[0] == 0
    assert cli("appointments", "set-status", "1", "scheduled")[1] == (
        "appointment 1: cancelled -> scheduled\n"
    )
    code, _, err = cli("appointments", "set-status", "1", "maybe")
    assert (code, err) == (
        2,
        "outbound-caller: 'maybe' is not one of: scheduled, confirmed, rescheduled, cancelled\n",
    )
    code, _, err = cli("appointments", "set-status", "9999", "confirmed")
    assert (code, err) == (1, "outbound-caller: there is no appointment 9999\n")


async def test_a_cancelled_appointment_whose_time_was_taken_stays_cancelled(
    store: Store,
) -> None:
    from storedata import make_practice

    ids = await make_practice(store)
    jane = await store.appointment(ids.jane_appt)
    await store.cancel(jane.id, by="test")
    async with store.transaction() as s:  # someone else gets Jane's time
        from outbound_caller.store import schema as db

        s.add(
            db.Appointment(
                practice_id=ids.practice,
                patient_id=ids.john,
                provider_id=ids.rivera,
                type_id=ids.checkup,
                start_at=jane.start,
                end_at=jane.end,
            )
        )
    from outbound_caller.errors import SlotUnavailable

    with pytest.raises(SlotUnavailable, match="its time is now taken by appointment"):
        await store.set_status(jane.id, "scheduled", by="operator")
    assert (await store.appointment(jane.id)).status == "cancelled"
    [*_, last] = await store.history(jane.id)
    assert last.action == "cancelled"


def test_a_callback_and_the_patients_messages_are_listed_for_the_office(here: Path) -> None:
    async def work() -> None:
        store = Store(f"sqlite+aiosqlite:///{here / 'outbound-caller.db'}", now=lambda: NOW)
        try:
            at = NOW - timedelta(hours=1)
            await record_placed(store, room="call-d", phone=JANE, placed_at=at)
            record = CallRecord(
                started_at=at, status=CallStatus.ANSWERED, ended_at=at + timedelta(minutes=1)
            )
            record.answered_at = at
            record.hangup_reason = "callback_requested"
            record.callback_at = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)  # 17:00 in New York
            record.callback_note = "driving"
            record.office_messages = ["Her insurance changed to Delta.", "=HYPERLINK(1)"]
            await record_outcome(
                store, room="call-d", phone=JANE, appointment_id=None, record=record
            )
        finally:
            await store.close()

    asyncio.run(work())
    code, out, err = cli("calls", "list", "--date", "today")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    office = lines.index("For the office:")
    assert lines[office + 1] == (
        "  Tue 12-01 14:30  Jane Doe: call back Tue 12-01 17:00 (driving); message: Her "
    )
    flat = " ".join(out.split())
    assert "message: Her insurance changed to Delta.; message: =HYPERLINK(1)" in flat

    code, out, _ = cli("calls", "list", "--date", "today", "--csv")
    [row] = list(csv.DictReader(io.StringIO(out)))
    assert row["callback_at"] == "2026-12-01T17:00-05:00"
    assert row["callback_note"] == "driving"
    assert row["office_messages"] == "Her insurance changed to Delta. | =HYPERLINK(1)"

    code, out, _ = cli("calls", "list", "--date", "today", "--json")
    record_json = json.loads(out)
    assert record_json["callback_at"] == "2026-12-01T17:00-05:00"
