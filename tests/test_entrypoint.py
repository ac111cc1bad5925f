"""The worker's real entrypoint, run offline: a fake job and room, the real LiveKit client
against the Twirp stand-in, the real store, session, agent, tools and audio output (a
silent voice with real duration), and a scripted model in place of GPT-4o."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from livekit import api, rtc
from livekit.agents import AgentSession
from livekit.plugins import cartesia, deepgram

from fake_job import DeafSTT, FakeJob, SilentTTS
from livekit_stub import API_KEY, API_SECRET, LiveKitStub
from outbound_caller import worker
from outbound_caller.call.pipeline import load_vad
from outbound_caller.cli.scripted import Rule, ScriptedLLM, ToolCall, Turn
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import list_calls
from outbound_caller.store.database import database_url
from storedata import add_appointment, make_practice
from test_config import GOOD

NY = ZoneInfo("America/New_York")
OPENING = "Hi, this is the automated assistant calling from Bright Smile Dental. Is this Jane?"
GOODBYE = "Thanks Jane, see you then. Goodbye!"
TRANSFERRING = "Of course, I'm transferring you to the front desk now."
ASK = "Thanks, Jane. Can you still make your check-up?"
RULES = [
    Rule(r"give the opening now", Turn(OPENING)),
    Rule(r"^can i speak to a person", Turn(TRANSFERRING, (ToolCall("transfer_call"),))),
    Rule(r"^transfer_call -> ", Turn("")),
    Rule(
        r"^yes, this is jane", Turn("", (ToolCall("confirmed_identity", {"speaker": "patient"}),))
    ),
    Rule(r"identity is confirmed", Turn(ASK)),
    Rule(r"^yes, i can make it", Turn("", (ToolCall("confirm_appointment"),))),
    Rule(r"^confirm_appointment -> ", Turn("You're confirmed. Anything else?")),
    Rule(r"^no, that's all", Turn("", (ToolCall("end_call", {"reason": "completed"}),))),
    Rule(r"^end_call -> ", Turn(GOODBYE)),
]


@dataclass
class Watch:
    """What the test sees of the job: the session, how it was started, and when things
    happened (monotonic seconds)."""

    sessions: list[AgentSession[Any]] = field(default_factory=list)
    start_options: list[dict[str, Any]] = field(default_factory=list)
    said: list[tuple[float, str]] = field(default_factory=list)
    deleted_at: list[float] = field(default_factory=list)
    agent_left_first: list[bool] = field(default_factory=list)  # per DeleteRoom
    transferred_at: list[float] = field(default_factory=list)
    voice: list[SilentTTS] = field(default_factory=list)


@pytest.fixture(scope="module")
def vad() -> Any:
    return load_vad()


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    seen = Watch()
    real_build = worker.build_session

    def voice(**options: Any) -> SilentTTS:
        tts = SilentTTS(**options)
        seen.voice.append(tts)
        return tts

    def build_session(settings: Any, *, vad_model: Any) -> AgentSession[Any]:
        session = real_build(settings, vad_model=vad_model)
        real_start = session.start

        async def start(agent: Any, **options: Any) -> Any:
            seen.start_options.append(options)
            return await real_start(agent, **options)

        session.start = start  # type: ignore[method-assign]

        def added(ev: Any) -> None:
            if ev.item.type == "message" and ev.item.role == "assistant":
                seen.said.append((time.monotonic(), ev.item.text_content or ""))

        session.on("conversation_item_added", added)
        seen.sessions.append(session)
        return session

    monkeypatch.setattr(cartesia, "TTS", voice)  # the provider's voice: silence, timed
    monkeypatch.setattr(deepgram, "STT", DeafSTT)  # the callee's words arrive as text
    monkeypatch.setattr(worker, "build_session", build_session)
    monkeypatch.setattr(worker, "build_llm", lambda settings: ScriptedLLM(RULES))
    return seen


@pytest.fixture
async def env(
    livekit_server: LiveKitStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    values = {
        **GOOD,
        "LIVEKIT_URL": livekit_server.url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",  # nothing leaves the machine
        "DATABASE_URL": f"sqlite:///{tmp_path / 'practice.db'}",
        "TRANSCRIPT_DIR": str(tmp_path / "transcripts"),
        "TRANSCRIPT_RETENTION_DAYS": "7",
        "TURN_DETECTION": "vad",
        "GREETING_DELAY": "0.5",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


async def janes_appointment(env: dict[str, str]) -> int:
    """Jane's check-up three days from now (the real clock: the worker's), at 10:00."""
    store = Store(database_url(env), now=_now)
    try:
        await store.upgrade()
        ids = await make_practice(store)
        start = datetime.combine(
            datetime.now(NY).date() + timedelta(days=3), datetime.min.time(), NY
        ) + timedelta(hours=10)
        return await add_appointment(store, ids, start, provider=ids.rivera)
    finally:
        await store.close()


def _now() -> datetime:
    return datetime.now(UTC)


def answered(room: Any, seen: Watch, livekit_server: LiveKitStub) -> None:
    """The dial is answered: the callee's leg joins the room before the reply, as with
    wait_until_answered; DeleteRoom takes the leg away."""

    def dial(request: api.CreateSIPParticipantRequest) -> api.SIPParticipantInfo:
        room.join(request.participant_identity)
        return api.SIPParticipantInfo(
            participant_identity=request.participant_identity, room_name=request.room_name
        )

    def delete(request: api.DeleteRoomRequest) -> api.DeleteRoomResponse:
        seen.deleted_at.append(time.monotonic())
        seen.agent_left_first.append(not room.isconnected())
        room.leave("callee", rtc.DisconnectReason.ROOM_DELETED)
        return api.DeleteRoomResponse()

    def transfer(request: api.TransferSIPParticipantRequest) -> api.TransferSIPParticipantResponse:
        seen.transferred_at.append(time.monotonic())
        room.leave(request.participant_identity, rtc.DisconnectReason.CLIENT_INITIATED)
        return api.TransferSIPParticipantResponse()

    livekit_server.behaviour["CreateSIPParticipant"] = dial
    livekit_server.behaviour["DeleteRoom"] = delete
    livekit_server.behaviour["TransferSIPParticipant"] = transfer


async def said(seen: Watch, text: str) -> float:
    """When the agent finished saying ``text`` (a generous bound: a loaded machine is slow)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for at, words in seen.said:
            if words == text:
                return at
        await asyncio.sleep(0.02)
    raise AssertionError(f"the agent never said {text!r}; it said {seen.said}")


async def test_an_answered_call_runs_through_the_real_entrypoint(
    env: dict[str, str], watch: Watch, vad: Any, livekit_server: LiveKitStub
) -> None:
    appointment_id = await janes_appointment(env)
    job = FakeJob(
        metadata=json.dumps({"phone_number": "+14155550123", "appointment_id": appointment_id}),
        vad=vad,
    )
    answered(job.room, watch, livekit_server)
    entry = asyncio.create_task(worker.entrypoint(job))  # type: ignore[arg-type]

    await said(watch, OPENING)
    [session] = watch.sessions
    await session.run(user_input="Yes, this is Jane.")
    await said(watch, ASK)
    await session.run(user_input="Yes, I can make it.")
    await session.run(user_input="No, that's all, thanks. Bye.")
    goodbye_done = await said(watch, GOODBYE)
    await job.ended()
    await entry

    # the dial that went out on the wire
    [dial] = livekit_server.calls("CreateSIPParticipant")
    assert (dial.sip_trunk_id, dial.sip_call_to) == ("ST_abc123", "+14155550123")
    assert dial.room_name == job.room.name
    # hung up once, after the goodbye had played
    [deleted_at] = watch.deleted_at
    assert deleted_at >= goodbye_done
    # the agent had left the room before deleting it (else the SDK logs its data channels
    # closing under it as errors)
    assert watch.agent_left_first == [True]
    assert GOODBYE.endswith(watch.voice[0].spoken[-1])  # its last sentence was the last played
    # the session as the worker starts it: recording off, the callee's leg only
    [options] = watch.start_options
    assert options["record"] is False
    assert options["room_options"].participant_identity == dial.participant_identity
    assert session.options.user_away_timeout == 10.0  # SILENCE_TIMEOUT's default
    # what the practice sees: the appointment confirmed, the call's outcome saved
    store = Store(database_url(env), now=_now)
    try:
        row = await store.appointment(appointment_id)
        [call] = await list_calls(store)
    finally:
        await store.close()
    assert row.status == "confirmed"
    assert (call.status, call.hangup_reason) == ("answered", "completed")
    assert call.appointment_id == appointment_id
    assert "confirmed " in call.changes
    # and the transcript, in the configured folder
    [transcript] = list(Path(env["TRANSCRIPT_DIR"]).iterdir())
    assert "callee: Yes, I can make it." in transcript.read_text()
    assert job.shutdown_reason is not None


async def test_an_appointment_the_store_does_not_have_is_never_dialed(
    env: dict[str, str], watch: Watch, vad: Any, livekit_server: LiveKitStub
) -> None:
    await janes_appointment(env)
    job = FakeJob(
        metadata=json.dumps({"phone_number": "+14155550123", "appointment_id": 999}), vad=vad
    )
    await worker.entrypoint(job)  # type: ignore[arg-type]
    assert job.shutdown_reason == "invalid dispatch"
    assert livekit_server.calls("CreateSIPParticipant") == []
    assert watch.sessions == []
    assert job.connected is False


async def test_a_transfer_goes_out_after_the_announcement_has_played(
    env: dict[str, str],
    watch: Watch,
    vad: Any,
    livekit_server: LiveKitStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the worker's clock runs from a weekday morning, when the office takes transfers
    real = datetime.now(UTC)
    morning = datetime.combine(real.astimezone(NY).date(), datetime.min.time(), NY)
    morning += timedelta(days=7 - morning.weekday(), hours=10)  # next Monday, 10:00
    monkeypatch.setattr(worker, "now_utc", lambda: datetime.now(UTC) - real + morning)
    appointment_id = await janes_appointment(env)
    job = FakeJob(
        metadata=json.dumps(
            {
                "phone_number": "+14155550123",
                "appointment_id": appointment_id,
                "transfer_to": "+14155550199",
            }
        ),
        vad=vad,
    )
    answered(job.room, watch, livekit_server)
    entry = asyncio.create_task(worker.entrypoint(job))  # type: ignore[arg-type]
    await said(watch, OPENING)
    [session] = watch.sessions
    await session.run(user_input="Can I speak to a person, please?")
    announced = await said(watch, TRANSFERRING)
    await job.ended()
    await entry

    [request] = livekit_server.calls("TransferSIPParticipant")
    assert request.transfer_to == "tel:+14155550199"
    [transferred_at] = watch.transferred_at
    assert transferred_at >= announced  # the patient heard where they are going first
    store = Store(database_url(env), now=_now)
    try:
        [call] = await list_calls(store)
    finally:
        await store.close()
    assert (call.status, call.hangup_reason) == ("answered", "transferred")


async def test_with_a_webhook_a_call_that_ends_queues_its_event_for_the_sender(
    env: dict[str, str],
    watch: Watch,
    vad: Any,
    livekit_server: LiveKitStub,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker's own path: a busy line's outcome and its event, in the store together,
    then posted by a sender as the worker's thread runs it."""
    from aiohttp import web

    from livekit_stub import sip_failure
    from outbound_caller.webhooks.sender import Sender

    monkeypatch.setenv("WEBHOOK_URL", "https://pms.example/hooks")
    monkeypatch.setenv("WEBHOOK_SECRET", "0123456789abcdef")
    appointment_id = await janes_appointment(env)
    livekit_server.behaviour["CreateSIPParticipant"] = sip_failure(486, "Busy Here")
    job = FakeJob(
        metadata=json.dumps({"phone_number": "+14155550123", "appointment_id": appointment_id}),
        vad=vad,
    )
    await worker.entrypoint(job)  # type: ignore[arg-type]
    await job.ended()

    got: list[dict[str, Any]] = []

    async def take(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks", take)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    store = Store(database_url(env), now=_now)
    sender = Sender(store, url=f"http://127.0.0.1:{port}/hooks", secret="0123456789abcdef")
    try:
        assert (await sender.deliver_due()).delivered == 1
        [call] = await list_calls(store)
    finally:
        await sender.aclose()
        await store.close()
        await runner.cleanup()
    [event] = got
    assert event["call"]["id"] == call.id
    assert event["call"]["appointment_id"] == appointment_id
    assert (event["call"]["status"], event["call"]["sip_code"]) == ("busy", 486)
