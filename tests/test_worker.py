"""The worker's entry: start-up checks, registration, and what its logs carry."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest

from conftest import LOG, NOW, PATIENT_PHONE, TRANSFER_TO, StartCall
from helpers import eventually, run_bare
from livekit_stub import LiveKitStub
from outbound_caller.call.context import inline_context
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.config import load_settings
from outbound_caller.dispatch import AGENT_NAME, parse_metadata
from outbound_caller.worker import main, prewarm, server
from test_config import GOOD

ROOT = Path(__file__).resolve().parents[1]


def test_start_up_with_no_settings_names_every_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["dev"], environ={})
    err = capsys.readouterr().err
    assert code == 2
    assert "configuration has 10 problem(s)" in err
    assert "LIVEKIT_URL is not set" in err
    # a first run, with no .env.local yet: how to start one
    assert "to start one: cp .env.example .env.local, then fill it in" in err
    assert "Traceback" not in err


def test_env_local_is_read_and_missing_english_weights_stop_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.local").write_text("\n".join(f"{k}={v}" for k, v in GOOD.items()))
    env = {"HF_HUB_CACHE": str(tmp_path / "empty-cache")}
    code = main(["start"], environ=env)
    err = capsys.readouterr().err
    assert code == 2
    assert env["PRACTICE_NAME"] == "Bright Smile Dental"  # loaded from .env.local
    assert "download-files" in err
    assert "configuration" not in err


def test_the_environment_wins_over_env_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.local").write_text("PRACTICE_TIMEZONE=Mars/Base\n")
    env = {**GOOD, "HF_HUB_CACHE": str(tmp_path)}
    main(["dev"], environ=env)
    assert env["PRACTICE_TIMEZONE"] == "America/New_York"
    assert "PRACTICE_TIMEZONE" not in capsys.readouterr().err


def test_agent_py_dev_fails_cleanly_on_a_bare_machine(tmp_path: Path) -> None:
    proc = run_bare([sys.executable, str(ROOT / "agent.py"), "dev"], cwd=tmp_path)
    assert proc.returncode == 2
    assert "LIVEKIT_URL is not set" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_worker_registers_for_explicit_dispatch_under_one_name() -> None:
    assert AGENT_NAME == "outbound-caller"
    assert server._agent_name == AGENT_NAME  # a named agent is only ever dispatched explicitly
    assert server.setup_fnc is prewarm


def test_prewarm_loads_the_vad_once_per_process() -> None:
    proc = SimpleNamespace(userdata={})
    prewarm(proc)  # type: ignore[arg-type]
    assert type(proc.userdata["vad"]).__name__ == "VAD"


async def test_inline_metadata_gives_the_agent_an_appointment() -> None:
    settings = load_settings(GOOD)
    meta = parse_metadata(
        '{"phone_number": "+14155550123", "patient_name": "Jane Doe",'
        ' "appointment_time": "2026-12-01T14:30:00-05:00"}'
    )
    context = inline_context(settings, meta, now=lambda: NOW)
    (appointment,) = context.appointments
    assert context.patient_name == "Jane Doe"
    assert context.practice.name == "Bright Smile Dental"
    assert appointment.start.isoformat() == "2026-12-01T19:30:00+00:00"
    assert await context.scheduler.get_appointment(appointment.id) == appointment
    bare = inline_context(
        settings, parse_metadata('{"phone_number": "+14155550123"}'), now=lambda: NOW
    )
    assert bare.appointments == ()


@pytest.mark.parametrize(
    "when", ["2026-11-28T10:00:00-05:00", "2027-12-05T10:00:00-05:00", "2100-12-31T23:59:59+14:00"]
)
def test_an_inline_appointment_far_from_now_is_not_dialed(when: str) -> None:
    from outbound_caller.errors import MetadataError

    meta = parse_metadata(f'{{"phone_number": "+14155550123", "appointment_time": "{when}"}}')
    with pytest.raises(MetadataError, match="between a day ago and a year from now"):
        inline_context(load_settings(GOOD), meta, now=lambda: NOW)


async def test_call_logs_carry_job_and_room_but_no_numbers_or_words(
    start_call: StartCall, livekit_server: LiveKitStub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    live = await start_call(
        [
            Rule(r"^my secret words", Turn("Transferring.", (ToolCall("transfer_call"),))),
        ]
    )
    await live.call.place(PATIENT_PHONE)
    await live.session.run(user_input="my secret words about a toothache")
    await eventually(lambda: bool(livekit_server.calls("DeleteRoom")))
    await eventually(lambda: any(r.getMessage() == "call ended" for r in caplog.records))

    ours = [r for r in caplog.records if r.name.startswith("outbound_caller")]
    messages = {r.getMessage() for r in ours}
    assert {"answered", "tool called", "transferring", "hanging up", "call ended"} <= messages
    for record in ours:
        assert record.job_id == LOG["job_id"]
        assert record.room == LOG["room"]
        text = str(record.__dict__)
        assert PATIENT_PHONE not in text
        assert TRANSFER_TO not in text
        assert "toothache" not in text
    hanging_up = next(r for r in ours if r.getMessage() == "hanging up")
    assert hanging_up.reason == "transferred"
    ended = next(r for r in ours if r.getMessage() == "call ended")
    assert ended.outcome == "answered"
    assert ended.tools_used == ["transfer_call"]


class _RejectingJob:
    """The parts of a JobContext the entrypoint touches before it would dial."""

    def __init__(self, metadata: str) -> None:
        self.job = SimpleNamespace(id="AJ_bad1", metadata=metadata, room=SimpleNamespace(name="r1"))
        self.log_context_fields: dict[str, str] = {}
        self.shutdowns: list[str] = []

    def is_fake_job(self) -> bool:
        return False

    def shutdown(self, reason: str = "") -> None:
        self.shutdowns.append(reason)

    @property
    def api(self) -> None:
        raise AssertionError("the LiveKit API must not be used for a job that cannot dial")


async def test_bad_metadata_ends_the_job_without_dialing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from outbound_caller.worker import entrypoint

    for key, value in GOOD.items():
        monkeypatch.setenv(key, value)
    job = _RejectingJob('{"phone_number": "+14155550123", "phone": "+14155550124"}')
    with caplog.at_level(logging.INFO, logger="outbound_caller"):
        await entrypoint(job)  # type: ignore[arg-type]
    assert job.shutdowns == ["invalid dispatch"]
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "phone: unknown field" in error.getMessage()
    assert "555012" not in error.getMessage()
    assert error.job_id == "AJ_bad1"
    assert error.room == "r1"


async def test_the_outcome_is_saved_and_the_clients_closed_whatever_fails_at_the_end(
    start_call: StartCall, livekit_server: LiveKitStub, tmp_path: Path
) -> None:
    from livekit import api

    from livekit_stub import API_KEY, API_SECRET, Fail
    from outbound_caller.dispatch import DispatchMetadata
    from outbound_caller.store.appointments import Store
    from outbound_caller.store.calls import list_calls
    from outbound_caller.worker import finish_call

    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}", now=lambda: NOW)
    await store.upgrade()
    control = api.LiveKitAPI(url=livekit_server.url, api_key=API_KEY, api_secret=API_SECRET)
    livekit_server.behaviour["DeleteRoom"] = Fail("internal", "the server is down", 500)
    live = await start_call([])
    await live.call.place(PATIENT_PHONE)

    def broken_transcript() -> None:
        raise ValueError("the history could not be serialised")

    await finish_call(
        "room closed",
        call=live.call,
        control=control,
        store=store,
        room="room-end",
        meta=DispatchMetadata(phone_number=PATIENT_PHONE),
        transcript=broken_transcript,
        extra={},
    )

    reopened = Store(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}", now=lambda: NOW)
    try:
        [row] = await list_calls(reopened)
    finally:
        await reopened.close()
    assert (row.room, row.status) == ("room-end", "answered")
    assert control._session is None or control._session.closed


def test_console_mode_gives_the_agent_a_valid_pretend_patient() -> None:
    from outbound_caller.worker import console_metadata

    meta = parse_metadata(console_metadata(load_settings(GOOD)))
    assert meta.patient_name == "Alex Morgan"
    assert meta.appointment_time is not None
    assert meta.appointment_time.tzinfo is not None


def test_console_mode_without_audio_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # as if PortAudio were missing
    code = main(["console"], environ={**GOOD, "TURN_DETECTION": "vad"})
    err = capsys.readouterr().err
    assert code == 2
    assert "console mode needs PortAudio" in err
    assert "Traceback" not in err


def test_the_vad_loads_in_the_thread_console_mode_prewarms_in() -> None:
    # console mode runs the prewarm in a worker thread; plugins register on the main thread
    code = (
        "import threading\n"
        "from outbound_caller.call.pipeline import load_vad\n"
        "errors = []\n"
        "def run():\n"
        "    try:\n"
        "        load_vad()\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "t = threading.Thread(target=run); t.start(); t.join()\n"
        "print(errors or 'ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stdout + done.stderr


PRACTICE_SETTINGS = ("PRACTICE_NAME", "PRACTICE_TIMEZONE", "PRACTICE_CALLBACK_NUMBER")


def test_with_a_store_the_practice_settings_are_not_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the store's practice speaks for its appointments; without a store the settings must
    monkeypatch.chdir(tmp_path)
    env = {k: v for k, v in GOOD.items() if k not in PRACTICE_SETTINGS}
    env["HF_HUB_CACHE"] = str(tmp_path / "empty-cache")
    assert main(["start"], environ=dict(env)) == 2
    err = capsys.readouterr().err
    assert "configuration has 3 problem(s)" in err
    assert all(f"{name} is not set" in err for name in PRACTICE_SETTINGS)

    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'store.db'}"
    assert main(["start"], environ=dict(env)) == 2  # stopped further on: no model files
    err = capsys.readouterr().err
    assert "configuration" not in err
    assert "download-files" in err


def test_a_call_without_a_stored_appointment_needs_the_practice_settings() -> None:
    from outbound_caller.errors import MetadataError

    env = {k: v for k, v in GOOD.items() if k not in PRACTICE_SETTINGS}
    settings = load_settings(env, require_practice=False)
    with pytest.raises(MetadataError, match="PRACTICE_NAME, PRACTICE_TIMEZONE or PRACTICE_CALL"):
        inline_context(
            settings, parse_metadata('{"phone_number": "+14155550123"}'), now=lambda: NOW
        )


def test_settings_that_disagree_with_the_stored_practice_are_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from conftest import PRACTICE
    from outbound_caller import worker

    monkeypatch.setattr(worker, "_warned_practices", set())
    monkeypatch.setenv("PRACTICE_NAME", PRACTICE.name)
    monkeypatch.setenv("PRACTICE_TIMEZONE", "America/Chicago")  # the store says New York
    monkeypatch.setenv("PRACTICE_CALLBACK_NUMBER", "+1 415 555 0100")  # the same number
    with caplog.at_level(logging.WARNING, logger="outbound_caller"):
        worker._warn_if_settings_differ(PRACTICE, LOG)
        worker._warn_if_settings_differ(PRACTICE, LOG)
    [warning] = caplog.records
    assert warning.getMessage().startswith(
        "settings that disagree with the store's practice: PRACTICE_TIMEZONE; calls about "
        "stored appointments use the store's"
    )
    assert warning.room == LOG["room"]  # type: ignore[attr-defined]


def test_with_a_call_limit_the_workers_load_is_its_calls_not_the_cpu() -> None:
    """WORKER_MAX_CALLS: the framework refuses a job at load 1.0, so with 2 the worker
    takes a first and a second call and refuses a third, however busy the machine."""
    from livekit.agents import AgentServer

    from outbound_caller.worker import count_calls

    class Server(AgentServer):
        calls: ClassVar[list[object]] = []

        @property
        def active_jobs(self) -> list[object]:  # type: ignore[override]
            return self.calls

    agent_server = Server()
    count_calls(agent_server, 2)
    load = agent_server.load_fnc
    assert load is not None
    loads = []
    for n in range(3):
        Server.calls = [object()] * n
        loads.append(load(agent_server))  # type: ignore[call-arg]
    assert loads == [0.0, 0.5, 1.0]
    assert agent_server._load_threshold == 1.0
