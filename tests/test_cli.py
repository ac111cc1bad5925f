"""The operator command and its offline demo."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from typer.testing import CliRunner

from conftest import NY
from helpers import run_bare
from outbound_caller.cli import app
from outbound_caller.demo import run_demo

SCRIPT = Path(sys.executable).with_name("outbound-caller")


def test_demo_plays_a_whole_call_offline(tmp_path: Path) -> None:
    proc = run_bare([str(SCRIPT), "demo"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "scripted stand-in for GPT-4o" in out
    assert "callee:  Hello?" in out
    assert "agent → look_up_availability" in out
    assert "agent → confirm_appointment" in out
    assert "agent → end_call" in out
    assert "[line] hung up (completed)" in out
    assert "status=scheduled" in out.split("Appointment after")[0]
    assert "status=rescheduled" in out.split("Appointment after")[1]
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written: no audio, no transcript


async def test_demo_moves_the_appointment_to_the_slot_the_callee_chose() -> None:
    lines: list[str] = []
    state = await run_demo(now=datetime(2026, 11, 30, 9, 0, tzinfo=NY), out=lines.append)
    text = "\n".join(lines)
    assert "Appointment before the call: appt-1001  Tue 2026-12-01 14:30 EST" in text
    assert "could we move it to Thursday the 3rd of December instead?" in text
    assert "Moved and confirmed: Thursday the 3rd of December at 4 in the afternoon" in text
    assert "Appointment after the call:  appt-1001  Thu 2026-12-03 16:00 EST" in text
    assert state.appointment is not None
    assert state.appointment.start == datetime(2026, 12, 3, 16, 0, tzinfo=NY)
    assert state.record.tools_used == ["look_up_availability", "confirm_appointment", "end_call"]


def test_live_llm_needs_an_openai_key() -> None:
    result = CliRunner().invoke(app, ["demo", "--live-llm"], env={"OPENAI_API_KEY": ""})
    assert result.exit_code == 2
    assert "--live-llm needs OPENAI_API_KEY" in result.output


def test_help_lists_the_demo() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "demo" in result.output
