"""Silence on the line: the agent checks in once, then ends the call politely."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest
from livekit.agents import AgentSession
from livekit.agents.voice.events import UserStateChangedEvent

from conftest import NOW, PRACTICE, ROOM, jane_appointment
from helpers import eventually
from livekit_stub import LiveKitStub
from outbound_caller.call.agent import (
    CallState,
    OutboundCaller,
    build_check_in,
    build_silent_goodbye,
)
from outbound_caller.call.line import Call
from outbound_caller.call.telephony import Telephony
from outbound_caller.cli.scripted import Rule, ScriptedLLM, Turn
from outbound_caller.outcome import CallRecord
from outbound_caller.store.scheduling import InMemoryScheduler

CHECK_IN = Rule(r"ask once, briefly, whether they are still there", Turn("Are you still there?"))
GOODBYE = Rule(
    r"still silent after you checked in",
    Turn("I'll let you go now; you can reach Bright Smile Dental at +14155550100."),
)


async def silent_call(
    telephony: Telephony, *, away_after: float
) -> tuple[AgentSession[CallState], CallState, Call, ScriptedLLM]:
    model = ScriptedLLM([CHECK_IN, GOODBYE])
    session: AgentSession[CallState] = AgentSession(llm=model, user_away_timeout=away_after)
    record = CallRecord(started_at=NOW)
    call = Call(telephony=telephony, session=session, record=record, now=lambda: NOW)
    state = CallState(
        practice=PRACTICE,
        scheduler=InMemoryScheduler(zone=PRACTICE.zone, now=lambda: NOW),
        line=call,
        record=record,
        now=lambda: NOW,
        patient_name="Jane Doe",
        appointments=[jane_appointment()],
    )
    session.userdata = state
    call.watch_silence(
        check_in=build_check_in(), goodbye=build_silent_goodbye(state), wait=away_after
    )
    await session.start(OutboundCaller(state), record=False)
    return session, state, call, model


async def test_silence_gets_one_check_in_then_a_polite_hang_up(
    telephony: Telephony, livekit_server: LiveKitStub
) -> None:
    session, state, _, model = await silent_call(telephony, away_after=0.2)
    try:
        await eventually(lambda: bool(livekit_server.calls("DeleteRoom")), within=5)
    finally:
        await session.aclose()
    said = [m.text_content for m in session.history.messages() if m.role == "assistant"]
    assert said == [
        "Are you still there?",
        "I'll let you go now; you can reach Bright Smile Dental at +14155550100.",
    ]
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert state.record.hangup_reason == "silence"
    assert len(model.inputs) == 2


async def test_speaking_after_the_check_in_starts_the_count_over(
    telephony: Telephony, livekit_server: LiveKitStub
) -> None:
    session, state, _, model = await silent_call(telephony, away_after=0.2)
    try:
        await eventually(lambda: len(model.inputs) == 1, within=30)
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="away", new_state="speaking")
        )
        # quiet again at once: with the count started over, what comes next is a fresh
        # check-in; had the speaking not cancelled it, the goodbye would come instead
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
        )
        await eventually(lambda: len(model.inputs) == 2, within=30)
    finally:
        await session.aclose()
    assert [bool(re.search(CHECK_IN.pattern, i, re.IGNORECASE)) for i in model.inputs] == [
        True,
        True,
    ]
    assert livekit_server.calls("DeleteRoom") == []
    assert state.record.hangup_reason is None


def on_check_in(
    session: AgentSession[CallState],
    monkeypatch: pytest.MonkeyPatch,
    *,
    started: Callable[[], None] = lambda: None,
    done: Callable[[], None],
) -> None:
    """Call ``started`` as the check-in (the first reply) starts, and ``done`` once it is
    over, after the line's own callback on it has run (callbacks run in the order added)."""
    generate_reply = session.generate_reply
    replies = 0

    def spy(**kwargs: Any) -> Any:
        nonlocal replies
        replies += 1
        handle = generate_reply(**kwargs)
        if replies == 1:
            started()
            handle.add_done_callback(lambda _: done())
        return handle

    monkeypatch.setattr(session, "generate_reply", spy)


async def test_a_callee_who_hangs_up_after_the_check_in_gets_no_goodbye(
    telephony: Telephony,
    livekit_server: LiveKitStub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    session, state, call, model = await silent_call(telephony, away_after=0.2)
    loop = asyncio.get_running_loop()
    waited = asyncio.Event()

    def leave() -> None:
        # the line has started its wait for an answer: the callee leaves now, and
        # ``waited`` is set just after that wait is over
        call.hang_up_soon("callee left")
        loop.call_later(0.2 + 0.05, waited.set)

    on_check_in(session, monkeypatch, done=leave)
    try:
        await asyncio.wait_for(waited.wait(), timeout=30)
        await eventually(lambda: bool(livekit_server.calls("DeleteRoom")))
    finally:
        await session.aclose()
    said = [m.text_content for m in session.history.messages() if m.role == "assistant"]
    assert said == ["Are you still there?"]
    assert len(model.inputs) == 1
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert state.record.hangup_reason == "callee left"
    messages = [r.getMessage() for r in caplog.records]
    assert "line still silent, ending the call" not in messages
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], messages


async def test_a_callee_who_speaks_while_the_check_in_plays_is_not_hung_up_on(
    telephony: Telephony, livekit_server: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    session, state, call, model = await silent_call(telephony, away_after=0.2)
    loop = asyncio.get_running_loop()
    waited = asyncio.Event()

    def talk() -> None:  # the callee starts talking before the check-in has finished
        session.emit(
            "user_state_changed", UserStateChangedEvent(old_state="away", new_state="speaking")
        )

    def over() -> None:  # set once the line's give-up wait would be over
        loop.call_later(0.2 + 0.05, waited.set)

    on_check_in(session, monkeypatch, started=talk, done=over)
    try:
        await asyncio.wait_for(waited.wait(), timeout=30)
    finally:
        await session.aclose()
    said = [m.text_content for m in session.history.messages() if m.role == "assistant"]
    assert said == ["Are you still there?"]  # and no goodbye after it
    assert len(model.inputs) == 1
    assert livekit_server.calls("DeleteRoom") == []
    assert state.record.hangup_reason is None
    assert not call.ended


async def test_hold_on_keeps_the_check_in_away_until_the_hold_is_over(
    telephony: Telephony, livekit_server: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "Hold on" (the agent's hold_on tool): the line going quiet is the callee fetching
    their diary, so the check-in waits for the hold to run out instead of coming at once."""
    from outbound_caller.call import line

    monkeypatch.setattr(line, "HOLD_S", 1.0)
    session, state, call, _ = await silent_call(telephony, away_after=0.2)
    loop = asyncio.get_running_loop()
    held_at = loop.time()
    call.hold()
    checked_in: list[float] = []
    on_check_in(
        session, monkeypatch, started=lambda: checked_in.append(loop.time()), done=lambda: None
    )
    try:
        await eventually(lambda: bool(checked_in), within=30)
    finally:
        await session.aclose()
    assert checked_in[0] - held_at >= 1.0  # away after 0.2 s, but held for 1 s
    assert state.record.hangup_reason is None
