"""What ``worker.entrypoint`` needs of a job, a room and a voice, offline.

- :class:`FakeJob` is the part of ``JobContext`` the entrypoint uses: the job, the process's
  prewarmed VAD, ``connect``/``shutdown`` and the shutdown callbacks, run as the framework
  runs them once the job is asked to end.
- :class:`FakeRoom` is an ``rtc.Room``, connected until the agent leaves: the framework's own RoomIO
  runs on it, and a test makes the callee's SIP leg join (as the dial does) or leave.
- :class:`SilentTTS` stands in for Cartesia: silence as long as the words would take to
  say, played through the framework's real audio output in real time, so "after the
  goodbye has played" means something.
- :class:`DeafSTT` stands in for Deepgram: it hears nothing (the room has no audio); the
  callee's words reach the session as text (``session.run(user_input=...)``).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from livekit import rtc
from livekit.agents import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions, stt, tts
from livekit.agents.utils import shortuuid

RATE = 16000
SECONDS_PER_WORD = 0.04


class SilentTTS(tts.TTS):
    def __init__(self, **_: Any) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=RATE, num_channels=1
        )
        self.spoken: list[str] = []

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _Silence(tts=self, input_text=text, conn_options=conn_options)


class _Silence(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=shortuuid(), sample_rate=RATE, num_channels=1, mime_type="audio/pcm"
        )
        assert isinstance(self._tts, SilentTTS)
        self._tts.spoken.append(self._input_text)
        words = max(1, len(self._input_text.split()))
        output_emitter.push(b"\x00\x00" * int(RATE * SECONDS_PER_WORD * words))
        output_emitter.flush()


class DeafSTT(stt.STT):
    def __init__(self, **_: Any) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))

    async def _recognize_impl(self, buffer: Any, **_: Any) -> stt.SpeechEvent:
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT)

    def stream(self, **kwargs: Any) -> stt.RecognizeStream:
        return _Deaf(stt=self, conn_options=kwargs.get("conn_options", DEFAULT_API_CONNECT_OPTIONS))


class _Deaf(stt.RecognizeStream):
    async def _run(self) -> None:
        async for _ in self._input_ch:  # takes the audio, hears nothing
            pass


class _Publication:
    sid = "TR_agent"

    async def wait_for_subscription(self) -> None:
        return None


class _Writer:
    async def write(self, text: str) -> None:
        pass

    async def aclose(self, **_: Any) -> None:
        pass


class _LocalParticipant:
    identity = "agent-AJ_fake"
    sid = "PA_agent"
    kind = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT

    def __init__(self) -> None:
        self.attributes: dict[str, str] = {}
        self.track_publications: dict[str, Any] = {}
        self.published: list[Any] = []

    async def publish_track(self, track: Any, options: Any = None) -> _Publication:
        self.published.append(track)
        return _Publication()

    async def set_attributes(self, attributes: dict[str, str]) -> None:
        pass

    async def publish_transcription(self, *args: Any, **kwargs: Any) -> None:
        pass

    async def stream_text(self, *args: Any, **kwargs: Any) -> _Writer:
        return _Writer()

    def register_rpc_method(self, *args: Any, **kwargs: Any) -> None:
        pass


class _RemoteParticipant:
    def __init__(self, identity: str) -> None:
        self.identity = identity
        self.sid = f"PA_{identity}"
        self.kind = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        self.state = rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE
        self.track_publications: dict[str, Any] = {}
        self.attributes: dict[str, str] = {}
        self.disconnect_reason = rtc.DisconnectReason.UNKNOWN_REASON


class FakeRoom(rtc.EventEmitter[Any]):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.metadata = ""
        self.local_participant = _LocalParticipant()
        self.remote_participants: dict[str, _RemoteParticipant] = {}
        self.connection_state = rtc.ConnectionState.CONN_CONNECTED

    def isconnected(self) -> bool:
        return self.connection_state == rtc.ConnectionState.CONN_CONNECTED

    async def disconnect(self) -> None:
        """The agent leaving (the framework's job end calls it too)."""
        self.connection_state = rtc.ConnectionState.CONN_DISCONNECTED

    def register_text_stream_handler(self, *args: Any, **kwargs: Any) -> None:
        pass

    def unregister_text_stream_handler(self, *args: Any, **kwargs: Any) -> None:
        pass

    def register_byte_stream_handler(self, *args: Any, **kwargs: Any) -> None:
        pass

    def unregister_byte_stream_handler(self, *args: Any, **kwargs: Any) -> None:
        pass

    def join(self, identity: str) -> None:
        """The callee's SIP leg joins, as it does when the dial is answered."""
        participant = _RemoteParticipant(identity)
        self.remote_participants[participant.sid] = participant
        self.emit("participant_connected", participant)

    def leave(self, identity: str, reason: rtc.DisconnectReason.ValueType) -> None:
        for sid, participant in list(self.remote_participants.items()):
            if participant.identity == identity:
                participant.disconnect_reason = reason
                del self.remote_participants[sid]
                self.emit("participant_disconnected", participant)


@dataclass
class FakeJob:
    """``JobContext`` as the entrypoint uses it."""

    metadata: str
    vad: Any
    room: FakeRoom = field(default_factory=lambda: FakeRoom("call-entry"))
    job_id: str = "AJ_fake"
    shutdown_reason: str | None = None
    connected: bool = False
    log_context_fields: dict[str, Any] = field(default_factory=dict)
    _callbacks: list[Any] = field(default_factory=list)
    _ended: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    ended_at: float | None = None

    @property
    def job(self) -> Any:
        return SimpleNamespace(
            id=self.job_id, room=SimpleNamespace(name=self.room.name), metadata=self.metadata
        )

    @property
    def proc(self) -> Any:
        return SimpleNamespace(userdata={"vad": self.vad})

    def is_fake_job(self) -> bool:
        return False  # a real dispatch: the entrypoint dials

    async def connect(self) -> None:
        self.connected = True

    def add_shutdown_callback(self, callback: Any) -> None:
        self._callbacks.append(callback)

    def shutdown(self, reason: str = "") -> None:
        if self.shutdown_reason is not None:
            return
        self.shutdown_reason = reason
        self._tasks.append(asyncio.get_running_loop().create_task(self._run_callbacks(reason)))

    async def _run_callbacks(self, reason: str) -> None:
        for callback in self._callbacks:
            await callback(reason)
        self.ended_at = time.monotonic()
        self._ended.set()

    async def ended(self) -> None:
        async with asyncio.timeout(60):
            await self._ended.wait()
