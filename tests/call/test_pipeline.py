"""The session built for a call: the SPEC's providers and models, recording off."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from livekit.agents import AgentSession
from livekit.agents.inference import TurnDetector
from livekit.plugins import cartesia, deepgram, openai, silero

from conftest import StartCall
from outbound_caller.call.agent import OutboundCaller
from outbound_caller.call.pipeline import (
    build_llm,
    build_session,
    check_turn_detector,
    english_weights_present,
    load_vad,
    session_start_options,
    turn_handling,
)
from outbound_caller.config import load_settings
from outbound_caller.errors import ModelFilesMissing
from test_config import GOOD


@pytest.fixture(scope="module")
def vad() -> silero.VAD:
    return silero.VAD.load()


async def test_the_session_uses_the_spec_providers(vad: silero.VAD) -> None:
    settings = load_settings({**GOOD, "TURN_DETECTION": "vad"})
    session = build_session(settings, vad_model=vad)
    assert isinstance(session.stt, deepgram.STT)
    assert session.stt.model == "nova-2-phonecall"
    assert isinstance(session.tts, cartesia.TTS)
    assert session.tts.model == "sonic-3"
    assert session.vad is vad
    assert session.turn_detection == "vad"
    model = build_llm(settings)
    assert isinstance(model, openai.LLM)
    assert model.model == "gpt-4o"


async def test_model_names_come_from_settings(vad: silero.VAD) -> None:
    settings = load_settings(
        {
            **GOOD,
            "TURN_DETECTION": "vad",
            "STT_MODEL": "nova-3",
            "TTS_MODEL": "sonic-2",
            "LLM_MODEL": "gpt-4o-mini",
        }
    )
    session = build_session(settings, vad_model=vad)
    assert isinstance(session.stt, deepgram.STT)
    assert session.stt.model == "nova-3"
    assert isinstance(session.tts, cartesia.TTS)
    assert session.tts.model == "sonic-2"
    assert build_llm(settings).model == "gpt-4o-mini"


async def test_the_tuning_a_call_relies_on(vad: silero.VAD) -> None:
    """The values the latency benchmark settled on, and the silence timeout as the session's
    away detection (the check-in hangs off it)."""
    assert load_vad().min_silence_duration == 0.25  # end of speech after a quarter second
    settings = load_settings({**GOOD, "TURN_DETECTION": "vad", "SILENCE_TIMEOUT": "7"})
    session = build_session(settings, vad_model=vad)
    assert session.options.turn_handling["endpointing"]["min_delay"] == 0.65
    assert session.options.turn_handling["endpointing"]["max_delay"] == 2.0
    assert session.options.turn_handling["preemptive_generation"]["enabled"] is True
    assert session.options.user_away_timeout == 7.0


def test_local_audio_turn_detector_builds_offline() -> None:
    options = turn_handling("v1-mini")
    assert isinstance(options["turn_detection"], TurnDetector)
    assert options["turn_detection"].model == "turn-detector-v1-mini"
    assert turn_handling("vad")["turn_detection"] == "vad"


def test_missing_english_weights_stop_start_up_with_the_download_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # an empty model cache
    assert english_weights_present() is False
    with pytest.raises(ModelFilesMissing) as caught:
        check_turn_detector("english")
    assert "python -m livekit.agents download-files" in str(caught.value)
    assert "TURN_DETECTION=v1-mini" in str(caught.value)


def test_other_detectors_need_no_download() -> None:
    check_turn_detector("v1-mini")
    check_turn_detector("vad")


def test_room_input_is_the_callee_with_telephony_noise_cancellation() -> None:
    options = session_start_options("callee", filter_noise=True)
    room = options["room_options"]
    assert room.participant_identity == "callee"
    assert room.close_on_disconnect is True
    nc = room.get_audio_input_options().noise_cancellation
    assert nc is not None
    assert "bvc" in str(nc.options["modelPath"])  # Krisp BVC telephony model


def test_framework_turn_taking_is_the_frameworks_own_timing() -> None:
    options = turn_handling("vad", "framework")
    assert options["endpointing"] == {"min_delay": 0.5, "max_delay": 3.0}
    assert options["preemptive_generation"] == {"enabled": False}
    assert load_vad("framework").min_silence_duration == 0.55
    tuned = turn_handling("vad")
    assert tuned["endpointing"] == {"min_delay": 0.65, "max_delay": 2.0}
    assert tuned["preemptive_generation"]["enabled"] is True


def test_krisp_is_loaded_only_into_a_process_whose_calls_use_it() -> None:
    """Once loaded, Krisp's plugin asks every connection's server to authorise it; a
    self-hosted server refuses, and each call would log native errors."""
    probe = (
        "import sys\n"
        "from outbound_caller import worker\n"
        "from outbound_caller.call.pipeline import session_start_options\n"
        "session_start_options('callee', filter_noise=False)\n"
        "print('livekit.plugins.noise_cancellation' in sys.modules)\n"
        "session_start_options('callee', filter_noise=True)\n"
        "print('livekit.plugins.noise_cancellation' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.split() == ["False", "True"]


def test_without_noise_cancellation_the_callee_is_heard_unfiltered() -> None:
    room = session_start_options("callee", filter_noise=False)["room_options"]
    assert room.participant_identity == "callee"
    assert room.get_audio_input_options().noise_cancellation is None


@pytest.mark.parametrize(
    ("url", "setting", "filters"),
    [
        ("wss://clinic-abc123.livekit.cloud", "auto", True),
        ("wss://livekit.clinic.example", "auto", False),  # self-hosted: Krisp cannot load
        ("ws://127.0.0.1:7880", "auto", False),
        ("ws://127.0.0.1:7880", "on", True),
        ("wss://clinic-abc123.livekit.cloud", "off", False),
    ],
)
def test_noise_cancellation_is_on_for_livekit_cloud_unless_set(
    url: str, setting: str, filters: bool
) -> None:
    settings = load_settings({**GOOD, "LIVEKIT_URL": url, "NOISE_CANCELLATION": setting})
    assert settings.filters_noise is filters


async def test_recording_is_off_whatever_the_project_default(start_call: StartCall) -> None:
    options = session_start_options("callee", filter_noise=True)
    assert options["record"] is False
    live = await start_call([])
    session: AgentSession = AgentSession(llm=live.llm)
    await session.start(OutboundCaller(live.state), record=options["record"])
    try:
        assert not any(session.options.recording_options.values())
    finally:
        await session.aclose()


async def test_provider_urls_reach_the_plugins(vad: silero.VAD) -> None:
    settings = load_settings(
        {
            **GOOD,
            "TURN_DETECTION": "vad",
            "OPENAI_BASE_URL": "https://llm.clinic.example/v1/",
            "DEEPGRAM_BASE_URL": "https://stt.clinic.example/v1/listen",
            "CARTESIA_BASE_URL": "https://tts.clinic.example",
        }
    )
    session = build_session(settings, vad_model=vad)
    assert isinstance(session.stt, deepgram.STT)
    assert session.stt._opts.endpoint_url == "https://stt.clinic.example/v1/listen"
    assert isinstance(session.tts, cartesia.TTS)
    assert session.tts._opts.get_ws_url("/tts") == "wss://tts.clinic.example/tts"
    llm = build_llm(settings)
    assert isinstance(llm, openai.LLM)
    assert str(llm._client.base_url) == "https://llm.clinic.example/v1/"
