"""Warm transfer (TRANSFER_MODE=warm) offline: what the desk is told, the dial that goes out
on the wire, and what the call does when the desk answers or not. The framework's task
itself (the desk's room, the briefing, the merge) needs a LiveKit server: tests/e2e runs it
through the real one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from livekit import api, rtc
from livekit.agents import ToolError, llm
from livekit.agents.voice.events import UserStateChangedEvent

from conftest import LOG, TRANSFER_TO, TRUNK, StartCall
from helpers import eventually
from livekit_stub import Fail, LiveKitStub
from outbound_caller.call import desk_transfer as relaying
from outbound_caller.call import line as line_module
from outbound_caller.call.briefing import desk_briefing
from outbound_caller.call.desk_transfer import DeskTransfer
from outbound_caller.call.line_tools import ON_HOLD
from outbound_caller.cli.scripted import Rule, ToolCall, Turn

ASK = Rule(r"^a person", Turn("", (ToolCall("transfer_call"),)))
DESK_AWAY = Rule(
    r"^transfer_call -> nobody at the front desk",
    Turn("I'm sorry, nobody could pick up. Shall the office call you back?"),
)


@dataclass
class FakeBridge:
    """What the call sees of the relay between the two rooms."""

    closed: bool = False
    on_left: list[Callable[[], None]] = field(default_factory=list)

    def on_desk_left(self, callback: Callable[[], None]) -> None:
        self.on_left.append(callback)

    async def aclose(self) -> None:
        self.closed = True


class FakeDesk:
    """Stands in for the framework's task (it needs a server's rooms): records what it was
    given, then answers as the desk would."""

    made: ClassVar[list[FakeDesk]] = []
    outcome: ClassVar[Exception | FakeBridge | None] = None

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.bridge: FakeBridge | None = None
        FakeDesk.made.append(self)

    def __await__(self) -> Any:
        return self._run().__await__()

    async def _run(self) -> None:
        if isinstance(FakeDesk.outcome, Exception):
            raise FakeDesk.outcome
        self.bridge = FakeDesk.outcome


@pytest.fixture
def desk(monkeypatch: pytest.MonkeyPatch) -> type[FakeDesk]:
    FakeDesk.made, FakeDesk.outcome = [], None
    monkeypatch.setattr(line_module, "DeskTransfer", FakeDesk)
    return FakeDesk


async def warm_call(start_call: StartCall, *rules: Rule) -> Any:
    live = await start_call([ASK, *rules])
    live.state.warm_transfer = True
    return live


async def test_the_desk_is_told_who_is_on_the_line_and_which_appointment(
    start_call: StartCall,
) -> None:
    live = await start_call([])
    briefing = desk_briefing(live.state)
    assert "automated scheduling assistant of Bright Smile Dental" in briefing
    assert '- Patient: "Jane Doe".' in briefing
    assert "- On the line: the patient." in briefing
    assert (
        "- Their appointment: tomorrow, Tuesday, December 1st at 2:30 in the afternoon with "
        '"Dr. Rivera" (status scheduled).'
    ) in briefing
    assert "`connect_to_caller` once the staff member agrees" in briefing
    assert "`decline_transfer`" in briefing

    live.state.speaker = "guardian"
    assert "- On the line: the patient's parent or guardian." in desk_briefing(live.state)
    live.state.identified = False
    assert "- On the line: someone who has not yet confirmed being the patient." in (
        desk_briefing(live.state)
    )
    live.state.patient_name = None
    assert "- Patient: name not on file." in desk_briefing(live.state)


async def test_a_warm_transfer_holds_the_patient_briefs_the_desk_and_hands_over(
    start_call: StartCall,
    livekit_server: LiveKitStub,
    desk: type[FakeDesk],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    bridge = FakeBridge()
    desk.outcome = bridge
    live = await warm_call(start_call)
    said: list[tuple[str, int]] = []  # what was said, and how many desks had been dialled
    say = live.session.say

    def recording_say(text: str, **options: Any) -> Any:
        said.append((text, len(desk.made)))
        return say(text, **options)

    monkeypatch.setattr(live.session, "say", recording_say)

    result = await live.session.run(user_input="A person, please.")
    result.expect.next_event().is_function_call(name="transfer_call")
    result.expect.next_event().is_function_call_output(output="")
    result.expect.no_more_events()  # the patient talks with the desk: the agent says nothing
    assert said == [(ON_HOLD, 0)]  # the hold line, before the desk is dialled
    [made] = desk.made
    assert (made.options["desk_number"], made.options["trunk_id"]) == (TRANSFER_TO, TRUNK)
    assert made.options["patient_identity"] == "callee"
    assert made.options["ringing_timeout"] == 20.0
    assert made.options["briefing"] == desk_briefing(live.state)
    assert made.options["lkapi"] is live.call._telephony.client
    # the agent neither hears nor speaks on the patient's line any more
    assert not live.session.input.audio_enabled
    assert not live.session.output.audio_enabled
    # no cold transfer, and the agent stays in the room: deleting it would drop the patient
    assert livekit_server.calls("TransferSIPParticipant") == []
    assert livekit_server.calls("DeleteRoom") == []
    assert (live.state.record.transferred, live.state.record.hangup_reason) == (
        True,
        "transferred",
    )
    [line] = [r for r in caplog.records if r.getMessage().startswith("transferred")]
    assert "+14155550199" not in line.getMessage()

    # the quiet of a patient talking with the desk is not a silence to check in on
    live.call.watch_silence(check_in="Are you there?", goodbye="Bye.", wait=1.0)
    live.session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
    )
    assert not [r for r in caplog.records if r.getMessage().startswith("line silent")]

    # the desk hanging up ends the call, and the relay with it
    [desk_left] = bridge.on_left
    desk_left()
    await eventually(lambda: bool(livekit_server.calls("DeleteRoom")))
    await eventually(lambda: live.call.ended)
    assert bridge.closed
    assert live.state.record.hangup_reason == "transferred"


async def test_a_desk_that_does_not_answer_brings_the_agent_back_to_apologise(
    start_call: StartCall,
    livekit_server: LiveKitStub,
    desk: type[FakeDesk],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")
    desk.outcome = ToolError("could not dial human agent")
    live = await warm_call(start_call, DESK_AWAY)

    result = await live.session.run(user_input="A person, please.")
    result.expect.next_event().is_function_call(name="transfer_call")
    output = result.expect.next_event().is_function_call_output().event().item
    assert output.is_error
    assert output.output.startswith("Nobody at the front desk could take the call")
    assert "request_callback" in output.output
    result.expect.next_event().is_message(role="assistant")  # the apology and the offer
    assert live.state.record.transferred is False
    assert livekit_server.calls("DeleteRoom") == []  # the call goes on

    [failed] = [r for r in caplog.records if r.getMessage().startswith("warm transfer failed")]
    assert failed.levelno == logging.WARNING
    assert (failed.job_id, failed.room) == (LOG["job_id"], LOG["room"])  # type: ignore[attr-defined]
    # after a failed hand-over, a silent line is checked on as usual
    live.call.watch_silence(check_in="Are you there?", goodbye="Bye.", wait=1.0)
    live.session.emit(
        "user_state_changed", UserStateChangedEvent(old_state="listening", new_state="away")
    )
    assert [r for r in caplog.records if r.getMessage().startswith("line silent")]


async def test_the_cold_transfer_is_unchanged_when_warm_is_off(
    start_call: StartCall, livekit_server: LiveKitStub, desk: type[FakeDesk]
) -> None:
    live = await start_call([ASK, Rule(r"^transfer_call ->", Turn(""))])
    await live.session.run(user_input="A person, please.")
    assert desk.made == []
    [refer] = livekit_server.calls("TransferSIPParticipant")
    assert refer.transfer_to == f"tel:{TRANSFER_TO}"


def desk_transfer(lkapi: api.LiveKitAPI) -> DeskTransfer:
    return DeskTransfer(
        desk_number=TRANSFER_TO,
        lkapi=lkapi,
        trunk_id=TRUNK,
        ringing_timeout=8,
        patient_identity="callee",
        briefing="Patient: Jane.",
        chat_ctx=llm.ChatContext(),
    )


async def test_the_desk_is_dialled_into_its_own_room_and_rung_for_the_set_time(
    lkapi: api.LiveKitAPI, livekit_server: LiveKitStub
) -> None:
    task = desk_transfer(lkapi)
    await task._originate_human_agent(
        room_name="call-7f3a-human-agent",
        identity="front-desk",
        room=None,  # type: ignore[arg-type]
    )
    [dial] = livekit_server.calls("CreateSIPParticipant")
    assert (dial.sip_call_to, dial.sip_trunk_id) == (TRANSFER_TO, TRUNK)
    assert (dial.room_name, dial.participant_identity) == ("call-7f3a-human-agent", "front-desk")
    assert dial.participant_name == "Front desk"
    assert dial.wait_until_answered is True
    assert dial.ringing_timeout.seconds == 8


async def test_a_busy_desk_is_dialled_once_and_its_refusal_reaches_the_framework(
    lkapi: api.LiveKitAPI, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = Fail(
        "unavailable", "busy", 503, {"sip_status_code": "486", "sip_status": "Busy Here"}
    )
    task = desk_transfer(lkapi)
    with pytest.raises(api.TwirpError):
        await task._originate_human_agent(
            room_name="call-7f3a-human-agent",
            identity="front-desk",
            room=None,  # type: ignore[arg-type]
        )
    assert len(livekit_server.calls("CreateSIPParticipant")) == 1  # no retry rings it again


def test_an_unanswered_desk_is_one_warning_line_without_the_number(
    caplog: pytest.LogCaptureFixture,
) -> None:
    framework = logging.getLogger("livekit.agents")
    try:
        raise api.TwirpError("deadline_exceeded", f"no answer from {TRANSFER_TO}", status=504)
    except api.TwirpError:
        with caplog.at_level(logging.DEBUG, logger="livekit.agents"):
            framework.exception("could not dial human agent")
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "the front desk did not answer (deadline_exceeded)"
    assert record.exc_info is None
    assert TRANSFER_TO not in caplog.text
    assert "Traceback" not in caplog.text


class Room:
    """An ``rtc.Room`` as the relay's publishing sees it: its local participant's
    ``publish_track`` hands back a publication whose first subscriber comes on ``subscribe``."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.subscribed = asyncio.get_running_loop().create_future()
        self.local_participant = self

    async def publish_track(self, track: Any, options: Any) -> Room:
        self.published.append(track.name)
        return self

    async def wait_for_subscription(self) -> None:
        await asyncio.shield(self.subscribed)

    def subscribe(self) -> None:
        self.subscribed.set_result(None)


async def test_the_relay_is_ready_only_once_the_other_side_hears_it() -> None:
    # the hold ends when the relay is ready: words said before the desk's leg had
    # subscribed would reach nobody
    room = Room()
    publishing = asyncio.ensure_future(relaying._publish(room, "patient"))  # type: ignore[arg-type]
    for _ in range(20):
        await asyncio.sleep(0)
    assert room.published == ["patient"]
    assert not publishing.done()
    room.subscribe()
    assert isinstance(await publishing, rtc.AudioSource)


async def test_a_relay_nobody_subscribes_to_ends_the_hold_anyway_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(relaying, "SUBSCRIBE_TIMEOUT_S", 0.01)
    room = Room()
    with caplog.at_level(logging.WARNING, logger=relaying.__name__):
        source = await relaying._publish(room, "front-desk")  # type: ignore[arg-type]
    assert isinstance(source, rtc.AudioSource)
    assert "nobody in the room subscribed to the front-desk relay in time" in caplog.text


class DeskSession(rtc.EventEmitter[str]):
    """The desk's session as the relay's hang-up watch sees it: it closes, and its room
    carries the SIP service's marks on the desk's leg."""

    def __init__(self) -> None:
        super().__init__()
        self.room_io = SimpleNamespace(room=rtc.EventEmitter[str]())


async def test_the_desk_hanging_up_is_seen_by_the_sip_services_mark_or_a_close() -> None:
    # the mark comes first, and is all there is when the server loses the leg's leave
    session = DeskSession()
    bridge = relaying.Bridge(
        desk_session=session,  # type: ignore[arg-type]
        caller_room=rtc.Room(),
        patient_identity="callee",
        desk_identity=relaying.DESK_IDENTITY,
    )
    left: list[str] = []
    bridge.on_desk_left(lambda: left.append("left"))
    room = session.room_io.room
    desk, patient = SimpleNamespace(identity="front-desk"), SimpleNamespace(identity="callee")

    room.emit("participant_attributes_changed", {"sip.callStatus": "active"}, desk)
    room.emit("participant_attributes_changed", {"sip.callStatus": "hangup"}, patient)
    assert left == []
    room.emit("participant_attributes_changed", {"sip.callStatus": "hangup"}, desk)
    assert left == ["left"]
    session.emit("close", object())
    assert left == ["left", "left"]  # both fire; the call's hang_up_soon keeps the first
