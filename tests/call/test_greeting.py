"""When the agent speaks first: never before the answer; after the callee's hello, or after
a short silence."""

from __future__ import annotations

import asyncio

from livekit.agents.voice.events import UserInputTranscribedEvent, UserStateChangedEvent

from conftest import PATIENT_PHONE, StartCall
from livekit_stub import LiveKitStub, sip_failure
from outbound_caller.call.agent import build_opening
from outbound_caller.cli.scripted import Rule, Turn

OPENING = Rule(
    r"has answered but has not spoken yet",
    Turn("Hi, this is the automated assistant from Bright Smile Dental. Is this Jane Doe?"),
)


async def test_silent_callee_hears_the_opening_after_the_delay(start_call: StartCall) -> None:
    live = await start_call([OPENING])
    await live.call.place(PATIENT_PHONE)
    assert live.llm.inputs == []  # answered, but nothing said yet

    opening = await live.call.greet_when_ready(delay=0.05, opening=build_opening(live.state))

    assert opening is not None
    await opening
    said = [m.text_content for m in live.session.history.messages() if m.role == "assistant"]
    assert said == [
        "Hi, this is the automated assistant from Bright Smile Dental. Is this Jane Doe?"
    ]
    assert "Bright Smile Dental" in live.llm.inputs[0]
    assert "Jane Doe" in live.llm.inputs[0]


async def test_callee_who_speaks_first_gets_a_reply_not_a_second_opening(
    start_call: StartCall,
) -> None:
    live = await start_call([OPENING])
    await live.call.place(PATIENT_PHONE)

    # a delay no test waits out: the callee's "hello?" is what ends the wait
    greeting = asyncio.create_task(
        live.call.greet_when_ready(delay=60.0, opening=build_opening(live.state))
    )
    await asyncio.sleep(0)  # it is waiting now
    live.session.emit(
        "user_input_transcribed", UserInputTranscribedEvent(transcript="Hello?", is_final=True)
    )
    opening = await asyncio.wait_for(greeting, timeout=30)
    assert opening is None
    assert live.llm.inputs == []  # the callee's own turn drives the reply


async def test_callee_already_speaking_at_answer_is_not_talked_over(
    start_call: StartCall,
) -> None:
    live = await start_call([OPENING])
    await live.call.place(PATIENT_PHONE)
    live.session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="speaking")
    )
    opening = await live.call.greet_when_ready(delay=0.05, opening=build_opening(live.state))
    assert opening is None
    assert live.llm.inputs == []


async def test_no_word_is_spoken_when_the_call_is_not_answered(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = sip_failure(480, "Temporarily Unavailable")
    live = await start_call([OPENING])
    result = await live.call.place(PATIENT_PHONE)
    assert not result.answered
    assert live.llm.inputs == []
    assert live.session.history.messages() == []


async def test_nothing_is_said_once_the_callee_has_hung_up(start_call: StartCall) -> None:
    live = await start_call([OPENING])
    await live.call.place(PATIENT_PHONE)
    live.call.hang_up_soon("callee left")  # the leg left during the greeting delay

    opening = await live.call.greet_when_ready(delay=0.05, opening=build_opening(live.state))

    assert opening is None
    assert live.llm.inputs == []
