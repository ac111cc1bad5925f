"""Warm transfer (``TRANSFER_MODE=warm``): the patient waits on hold while the agent calls
the front desk, tells the person there who is on the line and why, and connects the two
once they agree; when nobody answers, the agent is back with the patient.

The framework's :class:`WarmTransferTask` does the hold, the dial into a room of the desk's
own and the briefing. It connects the two with MoveParticipant, which only LiveKit Cloud
implements (a self-hosted livekit-server answers "not implemented": it cannot be sure both
rooms are on one node). There the desk stays in its own room and :class:`Bridge` relays
the audio between the two rooms from this job until either side hangs up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from livekit import api, rtc
from livekit.agents import NOT_GIVEN, AgentSession, llm
from livekit.agents.beta.workflows import WarmTransferTask
from livekit.agents.beta.workflows.utils import WorkflowInstructions

logger = logging.getLogger(__name__)

DESK_IDENTITY = "front-desk"
RATE = 48000  # the relay's rate: what WebRTC's Opus carries, so nothing is resampled twice
# a dial waits this much longer than the desk may ring (joining the room, the INVITE)
DIAL_MARGIN_S = 15.0
# the hold ends no later than this after the connection, heard or not
SUBSCRIBE_TIMEOUT_S = 5.0
SIP_CALL_STATUS = "sip.callStatus"  # the SIP service's attribute on a phone's leg


class DeskTransfer(WarmTransferTask):
    """The framework's warm transfer, dialled with the call's own client (it never retries,
    see ``call_control_api``) and, where the server cannot move the desk into the patient's
    room, completed with a :class:`Bridge` (``bridge`` after success)."""

    def __init__(
        self,
        *,
        desk_number: str,
        lkapi: api.LiveKitAPI,
        trunk_id: str,
        ringing_timeout: float,
        patient_identity: str,
        briefing: str,
        chat_ctx: llm.ChatContext,
        model: llm.LLM[Any] | None = None,
    ) -> None:
        super().__init__(
            sip_call_to=desk_number,
            sip_trunk_id=trunk_id,
            ringing_timeout=ringing_timeout,
            instructions=WorkflowInstructions(extra=briefing),
            chat_ctx=chat_ctx,
            # the briefing's model; the desk's session copies the call's STT, TTS and VAD
            llm=model if model is not None else NOT_GIVEN,
        )
        self._human_agent_identity = DESK_IDENTITY
        self._lkapi = lkapi
        self._patient_identity = patient_identity
        self.bridge: Bridge | None = None

    async def _originate_human_agent(
        self, *, room_name: str, identity: str, room: rtc.Room
    ) -> None:
        ringing = self._ringing_timeout or 0.0
        request = api.CreateSIPParticipantRequest(
            sip_trunk_id=self._sip_trunk_id or "",
            sip_call_to=self._sip_call_to,
            room_name=room_name,
            participant_identity=identity,
            participant_name="Front desk",
            wait_until_answered=True,
            ringing_timeout=Duration(seconds=int(ringing)),
        )
        await self._lkapi.sip.create_sip_participant(request, timeout=ringing + DIAL_MARGIN_S)

    async def _merge_calls(self) -> None:
        session = self._human_agent_sess
        try:
            await super()._merge_calls()
        except api.TwirpError as exc:
            assert session is not None
            assert self._caller_room is not None
            logger.info(
                "the server cannot move the desk into the patient's room (%s): relaying "
                "between the two rooms",
                exc.message,
            )
            # the desk's session holds the desk's leg: it stays (silent) until the call ends,
            # rather than being shut down with the task
            self._human_agent_sess = None
            self.bridge = Bridge(
                desk_session=session,
                caller_room=self._caller_room,
                patient_identity=self._patient_identity,
                desk_identity=self._human_agent_identity,
            )
            await self.bridge.start()


class Bridge:
    """The patient's audio into the desk's room and the desk's into the patient's, each as
    a track of this job's, until :meth:`aclose` (which hangs up the desk's leg)."""

    def __init__(
        self,
        *,
        desk_session: AgentSession[Any],
        caller_room: rtc.Room,
        patient_identity: str,
        desk_identity: str,
    ) -> None:
        self._desk_session = desk_session
        self._caller_room = caller_room
        self._patient_identity = patient_identity
        self._desk_identity = desk_identity
        self._relays: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Relay both ways, returning once each side's relay track is heard on the other
        (or :data:`SUBSCRIBE_TIMEOUT_S` has passed): the hold ends after this, so the
        patient's first words after the music reach the desk."""
        # the agent has handed over: it neither hears nor speaks on the desk's side
        self._desk_session.input.set_audio_enabled(False)
        self._desk_session.output.set_audio_enabled(False)
        desk_room = self._desk_session.room_io.room
        patient = _audio_track(self._caller_room, self._patient_identity)
        desk = _audio_track(desk_room, self._desk_identity)
        to_desk, to_patient = await asyncio.gather(
            _publish(desk_room, "patient"), _publish(self._caller_room, "front-desk")
        )
        self._relays = [
            asyncio.create_task(_relay(patient, to_desk), name="relay-patient"),
            asyncio.create_task(_relay(desk, to_patient), name="relay-desk"),
        ]

    def on_desk_left(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the desk's leg hangs up: when the SIP service marks it so
        (``sip.callStatus`` ``hangup``, which comes first and also when the server loses
        the leg's leave) or when its session closes; it may run more than once."""

        def _marked(changed: dict[str, str], participant: rtc.Participant) -> None:
            hung_up = changed.get(SIP_CALL_STATUS) == "hangup"
            if hung_up and participant.identity == self._desk_identity:
                callback()

        self._desk_session.room_io.room.on("participant_attributes_changed", _marked)
        self._desk_session.on("close", lambda _: callback())

    async def aclose(self) -> None:
        for relay in self._relays:
            relay.cancel()
        for relay in self._relays:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await relay
        # closing the desk's session deletes its room, which hangs up the desk's leg
        await self._desk_session.aclose()


def _audio_track(room: rtc.Room, identity: str) -> rtc.Track:
    participant = room.remote_participants.get(identity)
    if participant is not None:
        for publication in participant.track_publications.values():
            if publication.kind == rtc.TrackKind.KIND_AUDIO and publication.track is not None:
                return publication.track
    raise RuntimeError(f"no audio from {identity} to relay")


async def _publish(room: rtc.Room, name: str) -> rtc.AudioSource:
    """A track of this job's in ``room``, once someone there has subscribed to it."""
    source = rtc.AudioSource(RATE, 1)
    local = rtc.LocalAudioTrack.create_audio_track(name, source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    publication = await room.local_participant.publish_track(local, options)
    try:
        await asyncio.wait_for(publication.wait_for_subscription(), SUBSCRIBE_TIMEOUT_S)
    except TimeoutError:
        logger.warning("nobody in the room subscribed to the %s relay in time", name)
    return source


async def _relay(track: rtc.Track, source: rtc.AudioSource) -> None:
    stream = rtc.AudioStream.from_track(track=track, sample_rate=RATE, num_channels=1)
    try:
        async for event in stream:
            await source.capture_frame(event.frame)
    finally:
        await stream.aclose()
        await source.aclose()


class QuietUnansweredDesk(logging.Filter):
    """The framework logs a desk that did not answer (or declined) as an exception with its
    traceback; to a practice it is one line: nobody picked up."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage() == "could not dial human agent" and record.exc_info:
            error = record.exc_info[1]
            # the error's code only: its message can carry the desk's number
            why = getattr(error, "code", None) or type(error).__name__
            record.msg, record.args = "the front desk did not answer (%s)", (why,)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


# on the framework's own logger, in whichever process runs the call
logging.getLogger("livekit.agents").addFilter(QuietUnansweredDesk())
