"""Response latency on a loopback call: end of the caller's speech -> first agent audio.

A real AgentSession with the project's agent, the real Silero VAD and the configured turn
detection hears telephony-rate clips (bench/clips, 8 kHz speech with one mid-sentence pause
each) through its audio input, in real time. STT, LLM and TTS are fakes with pinned
latencies (final transcript 150 ms after speech ends, first LLM token 250 ms, first TTS audio
100 ms). The agent's audio output is captured; per turn the latency is from the last speech
sample of the clip to the first non-silent output frame. Starting to answer inside a
mid-sentence pause, or before the clip ends, is a false cut-off.

    .venv/bin/python bench/latency_bench.py                       # 30 turns per row
    .venv/bin/python bench/latency_bench.py --turns 4 --detectors vad --configs tuned
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from livekit import rtc
from livekit.agents import AgentSession, APIConnectOptions, stt, tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice import io
from livekit.plugins import silero

from outbound_caller.call.agent import CallState, OutboundCaller, Practice
from outbound_caller.call.pipeline import ENDPOINTING, PREEMPTIVE, VAD_MIN_SILENCE
from outbound_caller.cli.scripted import ScriptedLLM, Turn
from outbound_caller.outcome import CallRecord
from outbound_caller.store.scheduling import InMemoryScheduler

CLIPS = Path(__file__).resolve().parent / "clips"
FRAME_MS = 20
GAP_S = 3.0  # silence after each clip: room for the agent's reply
STT_DELAY, LLM_TTFT, TTS_TTFB = 0.15, 0.25, 0.10


@dataclass
class Clip:
    name: str
    text: str
    pcm: np.ndarray  # int16, 8 kHz
    speech_end: float  # seconds into the clip
    pauses: list[tuple[float, float]]  # mid-sentence silences (start, end)


def load_clips() -> list[Clip]:
    clips = []
    for line in (CLIPS / "clips.txt").read_text().splitlines():
        name, _, text = line.split("|", 2)
        with wave.open(str(CLIPS / f"{name}.wav")) as w:
            pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
        window = 160  # 20 ms
        energy = [np.abs(pcm[i : i + window]).mean() for i in range(0, len(pcm), window)]
        voiced = [e > 200 for e in energy]
        first = voiced.index(True)
        last = len(voiced) - 1 - voiced[::-1].index(True)
        pauses, run = [], None
        for i in range(first, last + 1):
            if not voiced[i] and run is None:
                run = i
            elif voiced[i] and run is not None:
                if (i - run) * 0.02 >= 0.25:
                    pauses.append((run * 0.02, i * 0.02))
                run = None
        clips.append(Clip(name, text, pcm, (last + 1) * 0.02, pauses))
    return clips


@dataclass
class Timeline:
    """What the caller says when, in the input's own clock (seconds since the first frame)."""

    turns: list[tuple[float, Clip]] = field(default_factory=list)
    wall_start: float = 0.0
    started: asyncio.Event = field(default_factory=asyncio.Event)


class ClipInput(io.AudioInput):
    """Plays the clips into the session in real time, 20 ms frames, silence between them."""

    def __init__(self, clips: list[Clip], turns: int) -> None:
        super().__init__(label="clips")
        self.timeline = Timeline()
        self._frames: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue(maxsize=2)
        self.done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        rate = 8000
        silence = np.zeros(int(rate * GAP_S), dtype=np.int16)
        audio = [silence[:rate]]
        offset = 1.0
        for i in range(turns):
            clip = clips[i % len(clips)]
            self.timeline.turns.append((offset, clip))
            audio += [clip.pcm, silence]
            offset += (len(clip.pcm) + len(silence)) / rate
        self._pcm = np.concatenate(audio)

    def start(self) -> None:
        self._task = asyncio.create_task(self._play())

    async def _play(self) -> None:
        rate, step = 8000, 8000 * FRAME_MS // 1000
        pcm = self._pcm
        self.timeline.wall_start = time.perf_counter()
        self.timeline.started.set()
        for n, i in enumerate(range(0, len(pcm), step)):
            chunk = pcm[i : i + step]
            frame = rtc.AudioFrame(chunk.tobytes(), rate, 1, len(chunk))
            due = self.timeline.wall_start + n * FRAME_MS / 1000
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            await self._frames.put(frame)
        self.done.set()

    async def __anext__(self) -> rtc.AudioFrame:
        frame = await self._frames.get()
        if frame is None:
            raise StopAsyncIteration
        return frame


class CaptureOutput(io.AudioOutput):
    """Records when non-silent agent audio starts; plays out in real time."""

    def __init__(self) -> None:
        super().__init__(
            label="capture",
            next_in_chain=None,
            sample_rate=None,
            capabilities=io.AudioOutputCapabilities(pause=False),
        )
        self.starts: list[float] = []
        self._pushed = 0.0
        self._t0 = 0.0
        self._timer: asyncio.TimerHandle | None = None

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        if not self._pushed:
            self._t0 = time.perf_counter()
            self.on_playback_started(created_at=time.time())
            if np.abs(np.frombuffer(frame.data, dtype=np.int16)).max() > 0:
                self.starts.append(self._t0)
        self._pushed += frame.duration

    def flush(self) -> None:
        super().flush()
        if not self._pushed:
            return
        pushed = self._pushed

        def _done() -> None:
            self.on_playback_finished(
                playback_position=pushed, interrupted=False, synchronized_transcript=None
            )
            self._pushed = 0.0

        delay = max(0.0, pushed - (time.perf_counter() - self._t0))
        self._timer = asyncio.get_running_loop().call_later(delay, _done)

    def clear_buffer(self) -> None:
        if self._timer:
            self._timer.cancel()
        if self._pushed:
            self.on_playback_finished(
                playback_position=min(self._pushed, time.perf_counter() - self._t0),
                interrupted=True,
                synchronized_transcript=None,
            )
        self._pushed = 0.0


class PinnedSTT(stt.STT):
    """Transcripts on the clip timeline: each spoken part final STT_DELAY after it ends."""

    def __init__(self, timeline: Timeline) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=True, interim_results=False))
        self._timeline = timeline

    async def _recognize_impl(
        self, buffer: Any, *, language: Any, conn_options: Any
    ) -> stt.SpeechEvent:
        raise NotImplementedError

    def stream(
        self, *, language: Any = None, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> stt.RecognizeStream:
        return _PinnedStream(stt=self, conn_options=conn_options, timeline=self._timeline)


class _PinnedStream(stt.RecognizeStream):
    def __init__(
        self, *, stt: PinnedSTT, conn_options: APIConnectOptions, timeline: Timeline
    ) -> None:
        super().__init__(stt=stt, conn_options=conn_options)
        self._timeline = timeline

    async def _run(self) -> None:
        events: list[tuple[float, str]] = []
        for start, clip in self._timeline.turns:
            words = clip.text.split()
            cut = len(words) // 2 if clip.pauses else len(words)
            if clip.pauses:
                events.append((start + clip.pauses[0][0] + STT_DELAY, " ".join(words[:cut])))
            events.append((start + clip.speech_end + STT_DELAY, " ".join(words[cut:])))
        events.sort()

        async def _emit() -> None:
            await self._timeline.started.wait()
            for at, text in events:
                await asyncio.sleep(max(0.0, self._timeline.wall_start + at - time.perf_counter()))
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                        alternatives=[stt.SpeechData(text=text, language="en")],
                    )
                )

        emitter = asyncio.create_task(_emit())
        try:
            async for _ in self._input_ch:
                pass
        finally:
            await utils.aio.cancel_and_wait(emitter)


class PinnedTTS(tts.TTS):
    def __init__(self) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=24000, num_channels=1
        )

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _Tone(tts=self, input_text=text, conn_options=conn_options)


class _Tone(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(), sample_rate=24000, num_channels=1, mime_type="audio/pcm"
        )
        await asyncio.sleep(TTS_TTFB)
        t = np.arange(int(24000 * 0.6)) / 24000
        output_emitter.push((np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16).tobytes())
        output_emitter.flush()


CONFIGS: dict[str, dict[str, Any]] = {
    # what the original single-file design ran with: the framework's defaults
    "default": {
        "endpointing": {"min_delay": 0.5, "max_delay": 3.0},
        "preemptive_generation": {"enabled": False},
        "vad": {},
    },
    # the project's tuned settings (pipeline.py): shorter endpointing backed by the
    # detector, preemptive LLM and TTS, a quicker VAD end-of-speech
    "tuned": {
        "endpointing": ENDPOINTING,
        "preemptive_generation": PREEMPTIVE,
        "vad": {"min_silence_duration": VAD_MIN_SILENCE},
    },
}


def detector(name: str) -> Any:
    if name == "vad":
        return "vad"
    if name == "v1-mini":
        from livekit.agents.inference import TurnDetector

        return TurnDetector(version="v1-mini")
    raise ValueError(name)


async def run_one(detector_name: str, config_name: str, turns: int) -> dict[str, Any]:
    cfg = CONFIGS[config_name]
    clips = load_clips()
    audio_in = ClipInput(clips, turns)
    audio_out = CaptureOutput()
    zone = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 30, 10, tzinfo=zone)
    state = CallState(
        practice=Practice("Bright Smile Dental", zone, "+14155550100"),
        scheduler=InMemoryScheduler(zone=zone, now=lambda: now),
        line=None,  # type: ignore[arg-type]
        record=CallRecord(started_at=now),
        now=lambda: now,
        patient_name="Jane",
    )
    session: AgentSession[CallState] = AgentSession(
        stt=PinnedSTT(audio_in.timeline),
        llm=ScriptedLLM(
            [], fallback=Turn("Sure, I can help with that."), time_to_first_token=LLM_TTFT
        ),
        tts=PinnedTTS(),
        vad=silero.VAD.load(**cfg["vad"]),
        turn_handling={
            "turn_detection": detector(detector_name),
            "endpointing": cfg["endpointing"],
            "preemptive_generation": cfg["preemptive_generation"],
            "interruption": {"enabled": False},
        },
        userdata=state,
        user_away_timeout=None,
    )
    session.input.audio = audio_in
    session.output.audio = audio_out
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await session.start(OutboundCaller(state), record=False)
    audio_in.start()
    await audio_in.done.wait()
    await asyncio.sleep(1.0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await session.aclose()

    latencies, cutoffs = [], 0
    starts = sorted(audio_out.starts)
    for offset, clip in audio_in.timeline.turns:
        t_begin = audio_in.timeline.wall_start + offset
        t_eos = t_begin + clip.speech_end
        during = [s for s in starts if t_begin < s < t_eos]
        after = [s for s in starts if t_eos <= s < t_eos + GAP_S]
        if during:
            cutoffs += 1
        if after:
            latencies.append((after[0] - t_eos) * 1000)
    return {
        "detector": detector_name,
        "config": config_name,
        "turns": turns,
        "answered": len(latencies),
        "cutoffs": cutoffs,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": float(np.percentile(latencies, 95)) if latencies else float("nan"),
        "cpu_per_min": cpu / (wall / 60),
        "rss_mb": rss_mb(),
    }


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def english_available() -> bool:
    from outbound_caller.call.pipeline import english_weights_present

    return english_weights_present()


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--detectors", default="vad,v1-mini")
    parser.add_argument("--configs", default="default,tuned")
    args = parser.parse_args(argv)
    if not english_available():
        out(
            "EnglishModel: weights not downloaded here (`python -m livekit.agents "
            "download-files` needs the model hub), so it is not measured"
        )
    out(
        "| detector | settings | turns | answered | p50 ms | p95 ms | false cut-offs "
        "| CPU s per call-minute | max RSS MB |"
    )
    out("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for det in args.detectors.split(","):
        for cfg in args.configs.split(","):
            r = asyncio.run(run_one(det, cfg, args.turns))
            out(
                f"| {r['detector']} | {r['config']} | {r['turns']} | {r['answered']} | "
                f"{r['p50']:.0f} | {r['p95']:.0f} | {r['cutoffs']} | {r['cpu_per_min']:.2f} | "
                f"{r['rss_mb']:.0f} |"
            )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LIVEKIT_AGENTS_PRELOAD_LOCAL_INFERENCE", "0")
    sys.exit(main())
