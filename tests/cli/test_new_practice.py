"""A new practice's first days, as the README's quick start for a real practice tells it:
set up from a practice file, import patients and appointments, re-import the next night's
export, run tomorrow's campaign (against the LiveKit stand-in, with an agent that answers),
read the day's calls. Only the outbound-caller command is used, never SQL."""

from __future__ import annotations

import json
import time as clock
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_campaign_cli import answering_agent
from typer.testing import CliRunner

from livekit_stub import LiveKitStub
from outbound_caller.cli.main import app
from practice_files import PRACTICE_FILE

# Tuesday 2026-12-01, 11:00 in Chicago: the practice's first day with outbound-caller
START = datetime(2026, 12, 1, 17, tzinfo=UTC)

PATIENTS = """\
name,phone,timezone,date_of_birth
Maria Lopez,+1 312 555 0141,,1980-05-02
Tom Nguyen,+1 (312) 555-0142,,
Ann Smith,+13125550143,America/New_York,
"""
APPOINTMENTS = """\
patient_phone,provider,type,start,external_id
+13125550141,Dr. Ana Ruiz,Check-up,2026-12-07T09:00:00-06:00,PMS-1
+13125550142,Dr. Ana Ruiz,Cleaning,2026-12-08T14:00:00-06:00,PMS-2
+13125550143,Dr. Ana Ruiz,Check-up,2026-12-14T10:00:00-06:00,PMS-3
"""
# the next night's export: Tom moved to Monday afternoon, Ann's unchanged, one new booking
NEXT_NIGHT = """\
patient_phone,provider,type,start,external_id
+13125550141,Dr. Ana Ruiz,Check-up,2026-12-07T09:00:00-06:00,PMS-1
+13125550142,Dr. Ana Ruiz,Cleaning,2026-12-07T14:00:00-06:00,PMS-2
+13125550143,Dr. Ana Ruiz,Check-up,2026-12-14T10:00:00-06:00,PMS-3
+13125550143,Dr. Ana Ruiz,Check-up,2026-12-07T10:00:00-06:00,PMS-4
"""


def test_a_new_practice_sets_up_imports_calls_and_reads_its_day(
    operator: LiveKitStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from outbound_caller.cli import calls, campaign, main

    started = clock.monotonic()
    # the Sunday before the visits: "tomorrow" is Monday the 7th
    sunday = START + timedelta(days=5)

    def now() -> datetime:
        return sunday + timedelta(seconds=clock.monotonic() - started)

    for module in (main, campaign, calls):
        monkeypatch.setattr(module, "utc_now", now)
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == 0, (args, result.output)
        return result.stdout

    # 1. the practice, from its file
    (tmp_path / "practice.yaml").write_text(PRACTICE_FILE)
    assert "Riverside Family Dentistry created" in run("practice", "apply", "practice.yaml")

    # 2. its patients and appointments, from its system's export
    (tmp_path / "patients.csv").write_text(PATIENTS)
    assert run("import", "patients.csv") == "imported 3 patients from patients.csv\n"
    (tmp_path / "appointments.csv").write_text(APPOINTMENTS)
    assert run("import", "appointments.csv") == "imported 3 appointments from appointments.csv\n"

    # 3. the next night's export, imported again
    (tmp_path / "appointments.csv").write_text(NEXT_NIGHT)
    assert run("import", "appointments.csv", "--update") == (
        "imported 4 appointments from appointments.csv: 1 added, 1 updated, "
        "2 already on file as they are\n"
    )
    monday = run("appointments", "list", "--date", "2026-12-07")
    assert [line.split()[5] for line in monday.splitlines()[1:-1]] == ["Maria", "Ann", "Tom"]

    # 4. tomorrow's campaign: each patient with a visit on Monday is called once
    operator.behaviour["CreateDispatch"] = answering_agent(tmp_path / "outbound-caller.db", {})
    result = runner.invoke(app, ["campaign", "run", "--date", "tomorrow", "--rate", "20"])
    assert result.exit_code == 0, result.output
    assert "campaign 1: 3 unconfirmed appointment(s) on 2026-12-07" in result.output
    dialed = sorted(
        json.loads(d.metadata)["phone_number"] for d in operator.calls("CreateDispatch")
    )
    assert dialed == ["+13125550141", "+13125550142", "+13125550143"]

    # 5. the day's calls, as the desk reads them
    day = run("calls", "list", "--date", "today", "--json")
    assert sorted(json.loads(line)["patient"] for line in day.splitlines()) == [
        "Ann Smith",
        "Maria Lopez",
        "Tom Nguyen",
    ]
    assert "3 of 3 finished" in run("campaign", "list")
