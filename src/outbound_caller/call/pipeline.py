"""The voice pipeline of a call: providers, turn handling and room I/O (SPEC P1-P6)."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from livekit import rtc
from livekit.agents import AMD, NOT_GIVEN, AgentSession, llm, room_io, vad
from livekit.agents.voice.turn import (
    EndpointingOptions,
    PreemptiveGenerationOptions,
    TurnDetectionMode,
    TurnHandlingOptions,
)

# silero registers itself as a plugin on import, which must happen on the main thread: in
# console mode the prewarm (load_vad) runs in a worker thread, so import it here, not there
from livekit.plugins import cartesia, deepgram, openai, silero

from ..config import Settings, TurnDetection, TurnTaking
from ..errors import ModelFilesMissing
from .state import CallState
from .voicemail import DETECTION, waits_for_greeting_end

DOWNLOAD_COMMAND = ".venv/bin/python -m livekit.agents download-files"


@contextmanager
def _plugin_deprecation_silenced() -> Iterator[None]:
    """The turn-detector plugin announces its deprecation on import; the SPEC still names
    its EnglishModel as the default detector, so keep that notice out of the way."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def english_weights_present(cache_dir: str | None = None) -> bool:
    """True when the English turn detector's files are in the local model cache
    (``cache_dir``, else ``HF_HUB_CACHE``, else the Hugging Face default)."""
    from huggingface_hub import hf_hub_download

    with _plugin_deprecation_silenced():
        from livekit.plugins.turn_detector.models import HG_MODEL, MODEL_REVISIONS, ONNX_FILENAME

    options: dict[str, Any] = {
        "revision": MODEL_REVISIONS["en"],
        "local_files_only": True,
        "cache_dir": cache_dir or os.environ.get("HF_HUB_CACHE") or None,
    }
    try:
        hf_hub_download(HG_MODEL, ONNX_FILENAME, subfolder="onnx", **options)
        hf_hub_download(HG_MODEL, "languages.json", **options)
    except Exception:  # huggingface_hub raises several types for "not in the cache"
        return False
    return True


def check_turn_detector(kind: TurnDetection, *, cache_dir: str | None = None) -> None:
    """Fail at start-up, not mid-call, when the detector's weights are missing.

    Raises:
        ModelFilesMissing: with the command that downloads them.
    """
    if kind == "english" and not english_weights_present(cache_dir):
        raise ModelFilesMissing(
            "the English turn detector's model files are not downloaded; run "
            f"`{DOWNLOAD_COMMAND}` once (needs internet), or set TURN_DETECTION=v1-mini "
            "or TURN_DETECTION=vad"
        )


def register_english_runner() -> None:
    """Import the English model so its inference runner is registered before the worker
    starts its shared inference process."""
    with _plugin_deprecation_silenced():
        import livekit.plugins.turn_detector.english  # noqa: F401


def build_turn_detector(kind: TurnDetection) -> TurnDetectionMode:
    if kind == "english":
        with _plugin_deprecation_silenced():
            from livekit.plugins.turn_detector.english import EnglishModel
        return EnglishModel()
    if kind == "v1-mini":
        from livekit.agents.inference import TurnDetector

        return TurnDetector(version="v1-mini")
    return "vad"


# Turn-taking, tuned with bench/latency_bench.py (results in bench/README.md): the VAD
# calls the end of speech after 0.25 s of silence (Silero's default is 0.55 s), the turn
# commits 0.65 s later (0.9 s of silence in all: longer than the 300-700 ms pauses people
# make mid-sentence), and the LLM and TTS start preemptively in between, so the reply is
# ready when the turn commits.
VAD_MIN_SILENCE = 0.25
ENDPOINTING: EndpointingOptions = {"min_delay": 0.65, "max_delay": 2.0}
PREEMPTIVE: PreemptiveGenerationOptions = {"enabled": True, "preemptive_tts": True}
# TURN_TAKING=framework: the framework's own defaults instead (Silero's 0.55 s, endpointing
# 0.5-3.0 s, no preemptive generation), slower to answer; what the benchmarks compare with
FRAMEWORK_VAD_MIN_SILENCE = 0.55
FRAMEWORK_ENDPOINTING: EndpointingOptions = {"min_delay": 0.5, "max_delay": 3.0}
FRAMEWORK_PREEMPTIVE: PreemptiveGenerationOptions = {"enabled": False}


@functools.cache
def load_vad(turn_taking: TurnTaking = "tuned") -> vad.VAD:
    """Silero, with the end-of-speech silence of ``turn_taking``; loaded once per process
    (calls run as threads, JOB_EXECUTOR=thread, share it: each session has its own stream)."""
    tuned = turn_taking == "tuned"
    return silero.VAD.load(
        min_silence_duration=VAD_MIN_SILENCE if tuned else FRAMEWORK_VAD_MIN_SILENCE
    )


def turn_handling(kind: TurnDetection, turn_taking: TurnTaking = "tuned") -> TurnHandlingOptions:
    tuned = turn_taking == "tuned"
    return TurnHandlingOptions(
        turn_detection=build_turn_detector(kind),
        endpointing=ENDPOINTING if tuned else FRAMEWORK_ENDPOINTING,
        preemptive_generation=PREEMPTIVE if tuned else FRAMEWORK_PREEMPTIVE,
    )


def _openai(settings: Settings, model: str) -> openai.LLM:
    return openai.LLM(
        model=model,
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url or NOT_GIVEN,
    )


def build_llm(settings: Settings) -> llm.LLM[Any]:
    return _openai(settings, settings.llm_model)


def build_amd(session: AgentSession[CallState], settings: Settings, *, identity: str) -> AMD:
    """The framework's answering-machine detector on the callee's leg, classifying with a
    small OpenAI model and reusing the session's own transcripts (no second STT)."""
    return AMD(
        session,
        llm=_openai(settings, settings.amd_llm_model),
        stt=None,
        participant_identity=identity,
        ivr_detection=False,  # an IVR menu is hung up on, not navigated
        detection_options=DETECTION,
        wait_until_finished=waits_for_greeting_end(settings.voicemail_policy),
        suppress_compatibility_warning=True,
    )


def build_session(settings: Settings, *, vad_model: vad.VAD) -> AgentSession[CallState]:
    """The session of one call. The LLM goes to the agent; everything else lives here.
    The caller sets ``userdata`` to the call's :class:`CallState` before starting it."""
    tts_options: dict[str, Any] = {}
    if settings.tts_voice:
        tts_options["voice"] = settings.tts_voice
    if settings.cartesia_base_url:
        tts_options["base_url"] = settings.cartesia_base_url
    stt_options: dict[str, Any] = {}
    if settings.deepgram_base_url:
        stt_options["base_url"] = settings.deepgram_base_url
    return AgentSession[CallState](
        stt=deepgram.STT(
            model=settings.stt_model,
            api_key=settings.deepgram_api_key.get_secret_value(),
            **stt_options,
        ),
        tts=cartesia.TTS(
            model=settings.tts_model,
            api_key=settings.cartesia_api_key.get_secret_value(),
            **tts_options,
        ),
        vad=vad_model,
        turn_handling=turn_handling(settings.turn_detection, settings.turn_taking),
        # after this long with both sides silent the callee counts as "away"; the call
        # then checks in once, and ends if the silence goes on (Call.watch_silence)
        user_away_timeout=settings.silence_timeout,
    )


def session_start_options(participant_identity: str, *, filter_noise: bool) -> dict[str, Any]:
    """Keyword arguments of ``AgentSession.start`` for a call: the callee's leg as input,
    recording off whatever the LiveKit project's default (SPEC C1, C2), and no session
    host: nobody in a phone call's room observes or drives the session over data packets,
    and when the room goes away at hang-up its writer would log a traceback per event."""
    return {
        "room_options": room_options(participant_identity, filter_noise=filter_noise),
        "record": False,
        "session_host": False,
    }


def noise_filter() -> rtc.NoiseCancellationOptions:
    """Krisp's telephony noise cancellation (BVC). Importing its plugin loads it into the
    process, and a loaded plugin asks the server to authorise it on every connection, which
    only LiveKit Cloud does (a self-hosted server's calls would each log native errors): so
    it is imported only by a process whose calls use it, before it connects."""
    from livekit.plugins import noise_cancellation

    return noise_cancellation.BVCTelephony()


def room_options(participant_identity: str, *, filter_noise: bool) -> room_io.RoomOptions:
    """Listen only to the callee's SIP leg, through telephony noise cancellation (Krisp BVC,
    which only LiveKit Cloud runs) when ``filter_noise``."""
    return room_io.RoomOptions(
        participant_identity=participant_identity,
        audio_input=room_io.AudioInputOptions(
            noise_cancellation=noise_filter() if filter_noise else None,
        ),
        close_on_disconnect=True,
    )
