"""Calls against the real store: what the agent changes is what the database holds."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from livekit.agents import AgentSession

from conftest import NOW, NY
from outbound_caller.call.agent import OutboundCaller
from outbound_caller.call.context import CallContext, store_context
from outbound_caller.call.state import CallState
from outbound_caller.cli.scripted import Rule, ScriptedLLM, ToolCall, Turn
from outbound_caller.dispatch import parse_metadata
from outbound_caller.errors import MetadataError
from outbound_caller.outcome import CallRecord
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.worker import main
from storedata import Ids, add_appointment, make_practice
from test_config import GOOD


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'calls.db'}", now=lambda: NOW)
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()


class NoLine:
    async def transfer(self, to_number: str) -> None:
        raise AssertionError("no transfer expected")

    def hang_up_soon(self, reason: str) -> None:
        pass

    def machine_reached(self) -> None:
        raise AssertionError("no voicemail expected")

    def hold(self) -> None:
        pass


async def converse(context: CallContext, rules: list[Rule], said: list[str]) -> CallState:
    state = CallState(
        practice=context.practice,
        scheduler=context.scheduler,
        line=NoLine(),
        record=CallRecord(started_at=NOW),
        now=lambda: NOW,
        patient_name=context.patient_name,
        appointments=list(context.appointments),
        identified=True,
    )
    async with AgentSession[CallState](llm=ScriptedLLM(rules), userdata=state) as session:
        await session.start(OutboundCaller(state))
        for words in said:
            await session.run(user_input=words)
    return state


async def jane_context(store: Store, ids: Ids) -> CallContext:
    meta = parse_metadata(f'{{"phone_number": "+14155550123", "appointment_id": {ids.jane_appt}}}')
    return await store_context(store, meta, by="AJ_42")


async def test_confirming_on_a_call_writes_the_row_and_the_history(sqlite_store: Store) -> None:
    ids = await make_practice(sqlite_store)
    context = await jane_context(sqlite_store, ids)
    assert context.patient_name == "Jane Doe"
    assert context.practice.name == "Bright Smile Dental"
    await converse(
        context,
        [
            Rule(r"^yes", Turn("", (ToolCall("confirm_appointment"),))),
            Rule(r"^confirm_appointment ->", Turn("All set.")),
        ],
        ["Yes, I'll be there."],
    )
    row = await sqlite_store.appointment(ids.jane_appt)
    assert row.status == "confirmed"
    assert [(h.action, h.by) for h in await sqlite_store.history(ids.jane_appt)] == [
        ("confirmed", "AJ_42")
    ]


async def test_rescheduling_on_a_call_moves_the_row(sqlite_store: Store) -> None:
    ids = await make_practice(sqlite_store)
    state = await converse(
        await jane_context(sqlite_store, ids),
        [
            Rule(r"^friday", Turn("", (ToolCall("find_open_times", {"from_date": "2026-12-04"}),))),
            Rule(r"^find_open_times ->", Turn("I have several times on Friday.")),
            Rule(r"^the first|^yes", Turn("", (ToolCall("move_appointment", {"option": "s1"}),))),
            Rule(r"^move_appointment ->", Turn("Friday at 8, right?")),
        ],
        ["Friday would be better.", "The first one.", "Yes."],
    )
    row = await sqlite_store.appointment(ids.jane_appt)
    assert row.status == "rescheduled"
    assert row.start == datetime(2026, 12, 4, 8, 0, tzinfo=NY)
    assert state.record.changes == [
        "rescheduled 2026-12-01T19:30:00+00:00 -> 2026-12-04T13:00:00+00:00"
    ]


async def test_one_call_covers_the_patients_appointments_that_day_and_only_those(
    sqlite_store: Store,
) -> None:
    ids = await make_practice(sqlite_store)
    later = await add_appointment(sqlite_store, ids, datetime(2026, 12, 1, 11, 0, tzinfo=NY))
    await add_appointment(sqlite_store, ids, datetime(2026, 12, 2, 11, 0, tzinfo=NY))  # next day
    await add_appointment(
        sqlite_store, ids, datetime(2026, 12, 1, 10, 0, tzinfo=NY), status="cancelled"
    )
    async with sqlite_store.transaction() as s:  # a family member on the same phone
        kid = db.Patient(
            practice_id=ids.practice, name="Ann Doe", phone="+14155550123", timezone="UTC"
        )
        s.add(kid)
        await s.flush()
    await add_appointment(
        sqlite_store, ids, datetime(2026, 12, 1, 12, 0, tzinfo=NY), patient=kid.id
    )

    context = await jane_context(sqlite_store, ids)
    assert [a.id for a in context.appointments] == [str(later), str(ids.jane_appt)]  # by time


async def test_both_appointments_are_settled_on_one_call(sqlite_store: Store) -> None:
    ids = await make_practice(sqlite_store)
    morning = await add_appointment(sqlite_store, ids, datetime(2026, 12, 1, 10, 0, tzinfo=NY))
    context = await jane_context(sqlite_store, ids)
    outputs: list[str] = []

    def say(output: str) -> Turn:
        outputs.append(output)
        return Turn("Which appointment do you mean?")

    state = await converse(
        context,
        [
            Rule(r"^yes", Turn("", (ToolCall("confirm_appointment"),))),
            Rule(r"^confirm_appointment -> the patient has 2", say),
            Rule(r"^the morning", Turn("", (ToolCall("confirm_appointment", {"appointment": 1}),))),
            Rule(
                r"^the afternoon",
                Turn(
                    "",
                    (ToolCall("find_open_times", {"from_date": "2026-12-04", "appointment": 2}),),
                ),
            ),
            Rule(r"^find_open_times ->", Turn("On Friday I have several times.")),
            Rule(
                r"^the first|^right",
                Turn("", (ToolCall("move_appointment", {"option": "s1", "appointment": 2}),)),
            ),
            Rule(r" ->", Turn("Done.")),
        ],
        [
            "Yes, confirm it.",
            "The morning one is fine.",
            "The afternoon one, can it be Friday?",
            "The first one.",
            "Right.",
        ],
    )
    assert "The patient has 2 appointments on this call" in outputs[0]
    first = await sqlite_store.appointment(morning)
    second = await sqlite_store.appointment(ids.jane_appt)
    assert (first.status, first.start) == ("confirmed", datetime(2026, 12, 1, 10, 0, tzinfo=NY))
    assert (second.status, second.start) == (
        "rescheduled",
        datetime(2026, 12, 4, 8, 0, tzinfo=NY),
    )
    assert state.record.changes == [
        f"appointment {morning} confirmed 2026-12-01T15:00:00+00:00",
        f"appointment {ids.jane_appt} rescheduled 2026-12-01T19:30:00+00:00"
        " -> 2026-12-04T13:00:00+00:00",
    ]
    assert OutboundCaller(state).instructions.count("appointment 2: ") == 1


async def test_a_database_failure_mid_call_is_spoken_about_and_recorded(
    sqlite_store: Store,
) -> None:
    ids = await make_practice(sqlite_store)
    context = await jane_context(sqlite_store, ids)
    await sqlite_store.engine.dispose()
    Path(sqlite_store.url.removeprefix("sqlite+aiosqlite:///")).unlink()  # the database is gone
    Path(sqlite_store.url.removeprefix("sqlite+aiosqlite:///")).mkdir()  # and cannot come back

    outputs: list[str] = []

    def answer(output: str) -> Turn:
        outputs.append(output)
        return Turn(
            "I'm sorry, I can't reach the schedule. Shall I transfer you to the front desk?"
        )

    state = await converse(
        context,
        [
            Rule(r"^yes", Turn("", (ToolCall("confirm_appointment"),))),
            Rule(r"^confirm_appointment ->", answer),
        ],
        ["Yes, confirm it."],
    )
    assert "The schedule cannot be reached right now" in outputs[0]
    assert "offer to transfer them" in outputs[0]
    assert state.record.errors == ["schedule unavailable"]
    assert state.record.changes == []


async def test_unknown_appointments_and_other_peoples_numbers_are_refused(
    sqlite_store: Store,
) -> None:
    ids = await make_practice(sqlite_store)
    with pytest.raises(MetadataError, match="is not in the store"):
        await store_context(
            sqlite_store,
            parse_metadata('{"phone_number": "+14155550123", "appointment_id": 999}'),
            by="x",
        )
    with pytest.raises(MetadataError, match="not the phone on file"):
        await store_context(
            sqlite_store,
            parse_metadata(
                f'{{"phone_number": "+14155550123", "appointment_id": {ids.john_appt}}}'
            ),
            by="x",
        )


def test_start_up_stops_when_the_database_is_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {**GOOD, "TURN_DETECTION": "vad", "DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:9/x"}
    assert main(["start"], environ=env) == 2
    err = capsys.readouterr().err
    assert "cannot reach the database at postgresql+asyncpg://u:***@127.0.0.1:9/x" in err
    assert "secretpw" not in err
    assert "Traceback" not in err


def test_start_up_stops_when_the_schema_is_not_migrated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outbound-caller.db").write_bytes(b"")
    assert main(["start"], environ={**GOOD, "TURN_DETECTION": "vad"}) == 2
    assert "run `outbound-caller db upgrade`" in capsys.readouterr().err


async def test_an_answered_calls_duration_is_from_the_answer_to_the_end(
    sqlite_store: Store,
) -> None:
    from datetime import UTC

    from outbound_caller.outcome import CallStatus
    from outbound_caller.store.calls import list_calls, record_outcome

    started = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    record = CallRecord(
        started_at=started,
        status=CallStatus.ANSWERED,
        answered_at=started + timedelta(seconds=12),
        ended_at=started + timedelta(seconds=100),
    )
    await record_outcome(
        sqlite_store, room="room-d", phone="+14155550123", appointment_id=None, record=record
    )
    unanswered = CallRecord(started_at=started, status=CallStatus.BUSY, ended_at=started)
    await record_outcome(
        sqlite_store, room="room-b", phone="+14155550123", appointment_id=None, record=unanswered
    )
    durations = {c.room: c.duration_s for c in await list_calls(sqlite_store)}
    assert durations == {"room-d": 88.0, "room-b": None}


async def test_no_log_line_at_any_level_carries_a_phone_number(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from outbound_caller.store.calls import list_calls, record_placed

    caplog.set_level(logging.DEBUG)  # what `agent.py dev` turns on for every logger
    await record_placed(sqlite_store, room="room-log", phone="+14155550123", placed_at=NOW)
    [row] = await list_calls(sqlite_store)
    assert row.phone == "+14155550123"

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "+14155550123" not in text
    assert "4155550123" not in text
