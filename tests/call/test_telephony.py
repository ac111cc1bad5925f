"""Dialing, transfer and hang-up through the real livekit-api client and a Twirp stand-in."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
from livekit import api, rtc
from livekit.agents import AgentSession
from livekit.agents.voice.events import CloseReason
from livekit.api import _failover as failover

from conftest import NOW, PATIENT_PHONE, ROOM, TRUNK, StartCall
from helpers import eventually
from livekit_stub import (
    API_KEY,
    API_SECRET,
    Fail,
    Hang,
    LiveKitStub,
    ringing_timeout,
    sip_failure,
)
from outbound_caller.call.line import Call
from outbound_caller.call.telephony import DialResult, Telephony, call_control_api
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.outcome import CallRecord, CallStatus


async def test_dial_request_carries_trunk_number_identity_and_timeouts(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([])
    result = await live.call.place(PATIENT_PHONE)

    assert result.answered
    [request] = livekit_server.calls("CreateSIPParticipant")
    assert request.sip_trunk_id == TRUNK
    assert request.sip_call_to == PATIENT_PHONE
    assert request.room_name == ROOM
    assert request.participant_identity == "callee"
    assert request.participant_name == "Patient"  # never the patient's own name
    assert request.wait_until_answered is True
    assert request.ringing_timeout.seconds == 25
    assert request.max_call_duration.seconds == 900
    [recorded] = livekit_server.requests
    assert recorded.grants.sip.call is True  # token signed with the API secret, SIP grant
    assert live.state.record.status is CallStatus.ANSWERED
    assert (live.state.record.sip_code, live.state.record.sip_status) == (200, "OK")
    assert live.state.record.answered_at == NOW
    assert livekit_server.calls("DeleteRoom") == []


@pytest.mark.parametrize(
    ("sip_code", "sip_status", "outcome"),
    [
        (486, "Busy Here", CallStatus.BUSY),
        (600, "Busy Everywhere", CallStatus.BUSY),
        (603, "Decline", CallStatus.DECLINED),
        (607, "Unwanted", CallStatus.DECLINED),
        (608, "Rejected", CallStatus.DECLINED),
        (408, "Request Timeout", CallStatus.NO_ANSWER),
        (480, "Temporarily Unavailable", CallStatus.NO_ANSWER),
        (487, "Request Terminated", CallStatus.NO_ANSWER),
        (404, "Not Found", CallStatus.FAILED),
        (500, "Server Internal Error", CallStatus.FAILED),
        (503, "Service Unavailable", CallStatus.FAILED),
    ],
)
async def test_each_sip_failure_ends_the_job_cleanly(
    start_call: StartCall,
    livekit_server: LiveKitStub,
    sip_code: int,
    sip_status: str,
    outcome: CallStatus,
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = sip_failure(sip_code, sip_status)
    live = await start_call([])
    closed: list[object] = []
    live.session.on("close", closed.append)

    result = await live.call.place(PATIENT_PHONE)

    assert not result.answered
    assert result.status is outcome
    assert live.state.record.status is outcome
    assert live.state.record.sip_code == sip_code
    assert live.state.record.sip_status == sip_status
    assert live.state.record.hangup_reason == outcome.value
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    await eventually(lambda: bool(closed))  # the session closed: the job can end
    assert live.llm.inputs == []  # the agent never spoke


async def test_a_ringing_timeout_is_no_answer_not_a_failure(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = ringing_timeout()
    live = await start_call([])

    result = await live.call.place(PATIENT_PHONE)

    assert result.status is CallStatus.NO_ANSWER
    assert live.state.record.status is CallStatus.NO_ANSWER
    assert live.state.record.sip_code is None
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]


async def test_a_trunk_that_refuses_our_credentials_is_a_trunk_failure(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    # what livekit-sip answers when the trunk keeps challenging the digest (seen in tests/e2e)
    livekit_server.behaviour["CreateSIPParticipant"] = Fail(
        "failed_precondition", "twirp error unknown: max auth retry attempts reached", 412
    )
    live = await start_call([])

    result = await live.call.place(PATIENT_PHONE)

    assert result.status is CallStatus.TRUNK_FAILED
    assert live.state.record.status is CallStatus.TRUNK_FAILED
    assert "max auth retry attempts" in (result.detail or "")


async def test_any_other_refusal_without_a_sip_response_is_a_failure(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = Fail("internal", "database down", 500)
    live = await start_call([])

    result = await live.call.place(PATIENT_PHONE)

    assert result.status is CallStatus.FAILED
    assert result.detail == "internal: database down"


async def dial_with_call_control(stub: LiveKitStub, *, ringing_timeout: int) -> DialResult:
    """Dial through the client the worker gives a call (``call_control_api``)."""
    lkapi = call_control_api(url=stub.url, api_key=API_KEY, api_secret=API_SECRET)
    try:
        telephony = Telephony(
            lkapi,
            room_name=ROOM,
            trunk_id=TRUNK,
            ringing_timeout=ringing_timeout,
            max_call_duration=60,
        )
        return await telephony.dial(PATIENT_PHONE)
    finally:
        await lkapi.aclose()


async def test_an_answer_later_than_the_ringing_timeout_is_still_answered(
    livekit_server: LiveKitStub,
) -> None:
    # the server starts the ring clock only once the SIP leg has joined the room, so its
    # answer can come well after ringing_timeout; the client must not give up first
    livekit_server.behaviour["CreateSIPParticipant"] = Hang(seconds=4)
    result = await dial_with_call_control(livekit_server, ringing_timeout=1)
    assert result.status is CallStatus.ANSWERED


async def test_a_dial_that_hits_a_server_error_is_placed_once(
    livekit_server: LiveKitStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on a LiveKit Cloud host the SDK retries a 5xx up to 3 times: the phone would ring again
    monkeypatch.setattr(failover, "is_cloud", lambda host: True)
    livekit_server.behaviour["CreateSIPParticipant"] = Fail("internal", "boom", 500)
    result = await dial_with_call_control(livekit_server, ringing_timeout=20)
    assert result.status is CallStatus.FAILED
    assert len(livekit_server.calls("CreateSIPParticipant")) == 1


async def test_a_dial_the_server_never_answers_ends_as_no_answer(
    lkapi: api.LiveKitAPI, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = Hang(seconds=10)
    telephony = Telephony(
        lkapi,
        room_name=ROOM,
        trunk_id=TRUNK,
        ringing_timeout=0,
        max_call_duration=60,
        dial_timeout=2,  # in production: the server's own 80 s cap plus a margin
    )
    record = CallRecord(started_at=NOW)
    async with AgentSession() as session:
        call = Call(telephony=telephony, session=session, record=record, now=lambda: NOW)
        result = await call.place(PATIENT_PHONE)
    assert result.status is CallStatus.NO_ANSWER
    assert record.status is CallStatus.NO_ANSWER
    assert record.sip_code is None
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]


async def test_rejected_credentials_fail_the_call_without_a_sip_code(
    livekit_server: LiveKitStub,
) -> None:
    bad = api.LiveKitAPI(url=livekit_server.url, api_key=API_KEY, api_secret="not-the-secret" * 3)
    try:
        telephony = Telephony(
            bad, room_name=ROOM, trunk_id=TRUNK, ringing_timeout=20, max_call_duration=60
        )
        result = await telephony.dial(PATIENT_PHONE)
    finally:
        await bad.aclose()
    assert result.status is CallStatus.FAILED
    assert result.sip_code is None
    assert result.detail is not None
    assert result.detail.startswith("unauthenticated")
    assert livekit_server.calls("CreateSIPParticipant") == []  # refused before it was handled


async def test_an_unreachable_server_fails_the_call() -> None:
    lk = api.LiveKitAPI(url="http://127.0.0.1:9", api_key=API_KEY, api_secret="x" * 40)
    try:
        telephony = Telephony(
            lk, room_name=ROOM, trunk_id=TRUNK, ringing_timeout=20, max_call_duration=60
        )
        result = await telephony.dial(PATIENT_PHONE)
        await telephony.delete_room()  # and hanging up does not raise either
    finally:
        await lk.aclose()
    assert result.status is CallStatus.FAILED
    assert result.detail is not None
    assert "LiveKit unreachable" in result.detail


async def test_hang_up_when_the_room_is_already_gone_is_fine(
    telephony: Telephony, livekit_server: LiveKitStub
) -> None:
    livekit_server.behaviour["DeleteRoom"] = Fail("not_found", "room not found", 404)
    await telephony.delete_room()
    assert len(livekit_server.calls("DeleteRoom")) == 1


@dataclass
class FakeParticipant:
    identity: str
    disconnect_reason: int


@pytest.mark.parametrize(
    "reason",
    [
        "CLIENT_INITIATED",
        "USER_UNAVAILABLE",
        "USER_REJECTED",
        "SIP_TRUNK_FAILURE",
        "CONNECTION_TIMEOUT",
        "MEDIA_FAILURE",
        "PARTICIPANT_REMOVED",
        "UNKNOWN_REASON",
    ],
)
async def test_callee_leaving_for_any_reason_closes_the_session_and_deletes_the_room(
    start_call: StartCall, livekit_server: LiveKitStub, reason: str
) -> None:
    live = await start_call([])
    await live.call.place(PATIENT_PHONE)
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    closed: list[object] = []
    live.session.on("close", closed.append)

    room.emit(
        "participant_disconnected", FakeParticipant("callee", rtc.DisconnectReason.Value(reason))
    )

    await eventually(lambda: bool(closed))
    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert live.state.record.hangup_reason == f"callee left ({reason})"
    assert live.state.record.ended_at is not None


async def test_a_leg_the_sip_service_marks_hung_up_ends_the_call_before_it_leaves(
    start_call: StartCall, livekit_server: LiveKitStub, caplog: pytest.LogCaptureFixture
) -> None:
    # seen through the real stack: the leg's leave was lost and it stayed in the room for
    # 20 s after the patient's BYE; its sip.callStatus had said "hangup" at once
    live = await start_call([])
    await live.call.place(PATIENT_PHONE)
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    closed: list[object] = []
    live.session.on("close", closed.append)
    leg = SimpleNamespace(identity="callee")

    with caplog.at_level(logging.INFO, logger="outbound_caller"):
        room.emit("participant_attributes_changed", {"sip.callStatus": "hangup"}, leg)
        await eventually(lambda: bool(closed))
        # the leave, when it does come, changes nothing
        room.emit(
            "participant_disconnected",
            FakeParticipant("callee", rtc.DisconnectReason.CONNECTION_TIMEOUT),
        )

    assert [r.room for r in livekit_server.calls("DeleteRoom")] == [ROOM]
    assert live.state.record.hangup_reason == "callee left (CLIENT_INITIATED)"
    assert [r.getMessage() for r in caplog.records].count("call ended") == 1


async def test_other_call_states_and_other_participants_marked_hung_up_do_not_end_the_call(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([Rule(".*", Turn("Still here."))])
    await live.call.place(PATIENT_PHONE)
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    callee, desk = SimpleNamespace(identity="callee"), SimpleNamespace(identity="front-desk")

    room.emit("participant_attributes_changed", {"sip.callStatus": "active"}, callee)
    room.emit("participant_attributes_changed", {"sip.callStatus": "hangup"}, desk)
    room.emit("participant_attributes_changed", {"lk.agent.state": "listening"}, callee)

    await live.session.run(user_input="hello")  # the session still answers
    assert livekit_server.calls("DeleteRoom") == []
    assert not live.call.ended


async def test_a_leg_marked_hung_up_while_the_dial_returns_is_hung_up_once_answered(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([])
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    leg = SimpleNamespace(identity="callee")

    def answer_then_hang_up(_: object) -> api.SIPParticipantInfo:
        room.emit("participant_attributes_changed", {"sip.callStatus": "hangup"}, leg)
        return api.SIPParticipantInfo(participant_identity="callee")

    livekit_server.behaviour["CreateSIPParticipant"] = answer_then_hang_up
    result = await live.call.place(PATIENT_PHONE)
    assert result.answered
    await eventually(lambda: len(livekit_server.calls("DeleteRoom")) == 1)
    assert live.state.record.hangup_reason == "callee left (CLIENT_INITIATED)"


async def test_someone_else_leaving_does_not_end_the_call(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([])
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    room.emit("participant_disconnected", FakeParticipant("supervisor", 1))
    await live.session.run(user_input="still here")  # the session still answers
    assert livekit_server.calls("DeleteRoom") == []


async def test_hanging_up_twice_deletes_the_room_once(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([Rule(".*", Turn("ok"))])
    await live.call.hang_up("completed")
    await live.call.hang_up("job shutdown")
    assert len(livekit_server.calls("DeleteRoom")) == 1
    assert live.state.record.hangup_reason == "completed"


async def test_a_rejected_leg_leaving_before_the_dial_error_leaves_the_outcome_to_the_dial(
    start_call: StartCall, livekit_server: LiveKitStub, caplog: pytest.LogCaptureFixture
) -> None:
    # livekit-sip removes a rejected leg (USER_REJECTED) before the RPC error arrives
    live = await start_call([])
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    leg = SimpleNamespace(identity="callee", disconnect_reason=rtc.DisconnectReason.USER_REJECTED)

    def reject(_: object) -> Fail:
        room.emit("participant_disconnected", leg)
        return sip_failure(486, "Busy Here")

    livekit_server.behaviour["CreateSIPParticipant"] = reject
    with caplog.at_level(logging.INFO, logger="outbound_caller"):
        result = await live.call.place(PATIENT_PHONE)

    assert result.status is CallStatus.BUSY
    assert (live.state.record.status, live.state.record.hangup_reason) == (CallStatus.BUSY, "busy")
    [ended] = [r for r in caplog.records if r.getMessage() == "call ended"]
    assert (ended.outcome, ended.hangup_reason, ended.sip_code) == ("busy", "busy", 486)  # type: ignore[attr-defined]


async def test_a_leg_gone_before_the_answer_returned_hangs_up_at_once(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call([])
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    leg = SimpleNamespace(
        identity="callee", disconnect_reason=rtc.DisconnectReason.CLIENT_INITIATED
    )

    def answer_then_gone(_: object) -> api.SIPParticipantInfo:
        room.emit("participant_disconnected", leg)  # picked up and hung up at once
        return api.SIPParticipantInfo(participant_identity="callee")

    livekit_server.behaviour["CreateSIPParticipant"] = answer_then_gone
    result = await live.call.place(PATIENT_PHONE)
    assert result.answered
    await eventually(lambda: len(livekit_server.calls("DeleteRoom")) == 1)
    assert live.state.record.hangup_reason == "callee left (CLIENT_INITIATED)"


async def test_a_failed_dial_is_logged_with_its_outcome_and_sip_code(
    start_call: StartCall, livekit_server: LiveKitStub, caplog: pytest.LogCaptureFixture
) -> None:
    livekit_server.behaviour["CreateSIPParticipant"] = sip_failure(486, "Busy Here")
    live = await start_call([])
    with caplog.at_level(logging.INFO, logger="outbound_caller"):
        await live.call.place(PATIENT_PHONE)
    [failed] = [r for r in caplog.records if r.getMessage() == "call failed"]
    assert (failed.outcome, failed.sip_code) == ("busy", 486)  # type: ignore[attr-defined]
    assert failed.phone == "***0123"  # type: ignore[attr-defined]


async def test_a_rejected_leg_leaving_just_after_the_dial_error_leaves_the_outcome_to_the_dial(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    # seen through the rig: the leg's departure is delivered in the loop turn after the RPC
    # error returned, before the hang-up task has started
    live = await start_call([])
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    leg = SimpleNamespace(identity="callee", disconnect_reason=rtc.DisconnectReason.USER_REJECTED)
    livekit_server.behaviour["CreateSIPParticipant"] = sip_failure(603, "Decline")
    dial = live.call._telephony.dial

    async def dial_then_leave(number: str) -> DialResult:
        result = await dial(number)
        asyncio.get_running_loop().call_soon(room.emit, "participant_disconnected", leg)
        return result

    live.call._telephony.dial = dial_then_leave  # type: ignore[method-assign]
    result = await live.call.place(PATIENT_PHONE)

    assert result.status is CallStatus.DECLINED
    assert live.state.record.hangup_reason == "declined"
    assert len(livekit_server.calls("DeleteRoom")) == 1


async def test_a_transfer_is_recorded_though_the_leg_leaves_before_the_request_returns(
    start_call: StartCall, livekit_server: LiveKitStub, caplog: pytest.LogCaptureFixture
) -> None:
    # after the far end takes the REFER the SIP service drops the leg at once: the session
    # closes and cancels the transfer_call tool before TransferSIPParticipant has returned
    live = await start_call(
        [
            Rule(r"^yes, transfer", Turn("Transferring you now.", (ToolCall("transfer_call"),))),
            Rule(r"^transfer_call ->", Turn("")),
        ]
    )
    room: rtc.EventEmitter[str] = rtc.EventEmitter()
    live.call.watch_callee(room)
    await live.call.place(PATIENT_PHONE)
    leg = SimpleNamespace(
        identity="callee", disconnect_reason=rtc.DisconnectReason.CLIENT_INITIATED
    )

    async def accept(_: object) -> api.TransferSIPParticipantResponse:
        room.emit("participant_disconnected", leg)
        # what the room input does when the leg leaves (close_on_disconnect)
        live.session._close_soon(reason=CloseReason.PARTICIPANT_DISCONNECTED)
        await eventually(lambda: live.session._closing)  # the tool is being cancelled
        return api.TransferSIPParticipantResponse()  # the service leaves every field empty

    livekit_server.behaviour["TransferSIPParticipant"] = accept
    with caplog.at_level(logging.INFO, logger="outbound_caller"):
        await live.session.run(user_input="Yes, transfer me.")
        await eventually(lambda: any(r.getMessage() == "call ended" for r in caplog.records))

    assert live.state.record.transferred is True
    assert live.state.record.hangup_reason == "transferred"
    [refer] = livekit_server.calls("TransferSIPParticipant")
    assert (refer.room_name, refer.participant_identity) == (ROOM, "callee")
    assert (refer.transfer_to, refer.play_dialtone) == ("tel:+14155550199", False)
    [ended] = [r for r in caplog.records if r.getMessage() == "call ended"]
    assert (ended.transferred, ended.hangup_reason) == (True, "transferred")  # type: ignore[attr-defined]
