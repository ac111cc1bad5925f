"""Answering-machine verdicts: what the agent says (or does not) and how the call ends."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import AgentSession, AMDCategory, AMDPredictionEvent

from conftest import MESSAGE_QUIET_S, PATIENT_PHONE, ROOM, StartCall
from helpers import eventually
from livekit_stub import LiveKitStub
from outbound_caller.call.pipeline import build_amd
from outbound_caller.call.voicemail import (
    DETECTION,
    VERDICT_WAIT_S,
    Action,
    action_for,
    opening_delay,
    voicemail_message,
)
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.config import load_settings
from outbound_caller.outcome import CallStatus
from test_config import GOOD

MESSAGE = voicemail_message(practice_name="Bright Smile Dental", callback_number="+14155550100")
GREETING = "You've reached Jane. Please leave a message after the tone."


def verdict(category: AMDCategory, speech: float = 2.0) -> AMDPredictionEvent:
    return AMDPredictionEvent(
        speech_duration=speech, category=category, reason="test", transcript="", delay=0.5
    )


def said(session: AgentSession) -> list[str | None]:
    return [m.text_content for m in session.history.messages() if m.role == "assistant"]


@pytest.mark.parametrize(
    ("category", "policy", "action"),
    [
        (AMDCategory.HUMAN, "hangup", Action.CONVERSE),
        (AMDCategory.UNCERTAIN, "hangup", Action.CONVERSE),
        (None, "hangup", Action.CONVERSE),  # no verdict in time
        (AMDCategory.MACHINE_VM, "hangup", Action.HANG_UP),
        (AMDCategory.MACHINE_VM, "message", Action.LEAVE_MESSAGE),
        (AMDCategory.MACHINE_IVR, "message", Action.HANG_UP),
        (AMDCategory.MACHINE_UNAVAILABLE, "message", Action.HANG_UP),
    ],
)
def test_each_verdict_has_one_action(
    category: AMDCategory | None, policy: str, action: Action
) -> None:
    assert action_for(category, policy) is action  # type: ignore[arg-type]


@pytest.mark.parametrize("category", [AMDCategory.HUMAN, AMDCategory.UNCERTAIN, None])
async def test_a_person_or_an_unclear_line_gets_the_conversation(
    start_call: StartCall, livekit_server: LiveKitStub, category: AMDCategory | None
) -> None:
    live = await start_call([])
    await live.call.place(PATIENT_PHONE)
    got = await live.call.apply_verdict(verdict(category) if category else None)
    assert got is Action.CONVERSE
    assert livekit_server.calls("DeleteRoom") == []
    assert live.state.record.status is CallStatus.ANSWERED
    assert live.state.record.amd == (category.value if category else "none")


@pytest.mark.parametrize(
    "category", [AMDCategory.MACHINE_VM, AMDCategory.MACHINE_IVR, AMDCategory.MACHINE_UNAVAILABLE]
)
async def test_a_machine_is_hung_up_on_without_a_word_by_default(
    start_call: StartCall, livekit_server: LiveKitStub, category: AMDCategory
) -> None:
    live = await start_call([])
    await live.call.place(PATIENT_PHONE)
    await live.call.apply_verdict(verdict(category))
    assert said(live.session) == []
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert live.state.record.status is CallStatus.VOICEMAIL
    assert live.state.record.amd == category.value


async def test_the_message_policy_leaves_only_the_practice_and_its_number(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([], voicemail_policy="message")
    await live.call.place(PATIENT_PHONE)
    await live.call.apply_verdict(verdict(AMDCategory.MACHINE_VM))
    [message] = said(live.session)
    assert message == (
        "Hello, this is the automated assistant of Bright Smile Dental. Please call us back "
        "at 4 1 5, 5 5 5, 0 1 0 0. Again, that's 4 1 5, 5 5 5, 0 1 0 0. Thank you."
    )
    for private in ("Jane", "Doe", "December", "2:30", "Rivera", "appointment"):
        assert private not in message
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert live.state.record.hangup_reason == "voicemail: message left"


async def test_a_greeting_the_model_hears_follows_the_message_policy_after_the_greeting(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    """The detector let a greeting through and the model recognised it: the practice chose
    to leave a message, so the message is left, once the greeting has stopped."""
    live = await start_call(
        [Rule(r"after the tone", Turn("", (ToolCall("detected_answering_machine"),)))],
        voicemail_policy="message",
    )
    await live.call.place(PATIENT_PHONE)
    live.session._update_user_state("speaking")  # the greeting is still playing
    result = await live.session.run(user_input=GREETING)
    result.expect.next_event().is_function_call(name="detected_answering_machine")
    result.expect.next_event().is_function_call_output()
    result.expect.no_more_events()  # the model itself says nothing
    # the policy's task is waiting for the greeting to end: nothing said over it
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "voicemail"]
    assert not task.done()
    assert said(live.session) == []
    assert livekit_server.calls("DeleteRoom") == []
    live.session._update_user_state("listening")  # the greeting ended (the beep)
    await eventually(lambda: len(livekit_server.calls("DeleteRoom")) == 1)
    assert said(live.session) == [MESSAGE]
    assert live.state.record.status is CallStatus.VOICEMAIL
    assert live.state.record.hangup_reason == "voicemail: message left"


async def test_a_pause_between_the_greetings_sentences_does_not_start_the_message(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    """The detector can decide before the greeting ends: the message waits until the line
    has been quiet for the whole window, so a pause between sentences restarts the wait."""
    live = await start_call([], voicemail_policy="message")
    await live.call.place(PATIENT_PHONE)
    loop = asyncio.get_running_loop()
    spoke_at: list[float] = []
    live.session.on(
        "agent_state_changed",
        lambda ev: ev.new_state == "speaking" and spoke_at.append(loop.time()),
    )
    live.session._update_user_state("speaking")  # the greeting's first sentence
    verdict_applied = asyncio.create_task(live.call.apply_verdict(verdict(AMDCategory.MACHINE_VM)))
    live.session._update_user_state("listening")  # a pause between sentences...
    await asyncio.sleep(MESSAGE_QUIET_S / 2)
    live.session._update_user_state("speaking")  # ...and the next sentence
    await asyncio.sleep(MESSAGE_QUIET_S / 2)
    live.session._update_user_state("listening")  # the greeting and its beep are over
    last_quiet = loop.time()
    await verdict_applied
    assert said(live.session) == [MESSAGE]
    assert spoke_at
    assert spoke_at[0] >= last_quiet + MESSAGE_QUIET_S, (spoke_at, last_quiet)
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]


async def test_the_detector_is_built_with_the_tuned_settings(start_call: StartCall) -> None:
    live = await start_call([])
    detector = build_amd(live.session, load_settings(GOOD), identity="callee")
    assert detector._opts["no_speech_threshold"] == DETECTION["no_speech_threshold"] == 3.0
    assert detector._opts["timeout"] == 8.0
    assert detector._participant_identity == "callee"


@pytest.mark.parametrize(
    ("policy", "waits", "wait_s"), [("hangup", False, 15.0), ("message", True, 60.0)]
)
async def test_the_verdict_wait_fits_the_voicemail_policy(
    start_call: StartCall, policy: str, waits: bool, wait_s: float
) -> None:
    # hanging up needs no end of greeting: the detector's 8 s timeout is a hard cap, and the
    # call waits a little longer than that; a message waits for the beep, so the detector
    # hears the greeting out and the call waits up to a minute for it
    live = await start_call([])
    settings = load_settings({**GOOD, "VOICEMAIL_POLICY": policy})
    detector = build_amd(live.session, settings, identity="callee")
    assert detector._wait_until_finished is waits
    assert VERDICT_WAIT_S[settings.voicemail_policy] == wait_s
    assert wait_s > detector._opts["timeout"]


@pytest.mark.parametrize(
    ("reason", "speech", "delay"),
    [
        ("no_speech_timeout", 0.0, 0.2),  # the detector already waited out a silent line
        ("participant_missing", 0.0, 2.0),  # the callee's audio never arrived: no shortcut
        ("short_greeting", 0.4, 2.0),
        ("llm", 1.5, 2.0),
    ],
)
def test_only_a_silent_line_shortens_the_wait_before_the_opening(
    reason: str, speech: float, delay: float
) -> None:
    verdict = AMDPredictionEvent(
        speech_duration=speech,
        category=AMDCategory.UNCERTAIN,
        reason=reason,
        transcript="",
        delay=0.0,
    )
    assert opening_delay(verdict, 2.0) == delay
    assert opening_delay(None, 2.0) == 2.0
