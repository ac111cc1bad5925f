"""CPU and memory of the in-process audio work of one call, and what that allows per core
and per GB.

Pushes one minute of the benchmark clips (8 kHz telephony speech) through the audio work a
call does for the caller's audio in the job process — resampling to the VAD's 16 kHz and
Silero VAD with the project's settings — as fast as it will go, and counts CPU seconds
(all threads of the process). The WebRTC decode of the room's audio happens in the same
process but is not in this figure. Noise cancellation (Krisp
BVC) filters only on LiveKit Cloud and passes audio through elsewhere, so it is not
measured here; neither is a turn-detector model.

    .venv/bin/python bench/capacity_bench.py [--minutes 1]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from livekit import rtc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from latency_bench import load_clips

from outbound_caller.call.pipeline import load_vad


def frames(pcm: np.ndarray, rate: int, ms: int = 20) -> list[rtc.AudioFrame]:
    step = rate * ms // 1000
    return [
        rtc.AudioFrame(pcm[i : i + step].tobytes(), rate, 1, len(pcm[i : i + step]))
        for i in range(0, len(pcm) - step + 1, step)
    ]


async def measure(minutes: float) -> dict[str, float]:
    clips = np.concatenate([c.pcm for c in load_clips()])
    needed = int(8000 * 60 * minutes)
    caller = np.resize(clips, needed).astype(np.int16)
    vad = load_vad()
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    results: dict[str, float] = {}
    up = rtc.AudioResampler(8000, 16000, num_channels=1)
    stream = vad.stream()
    events = 0

    async def drain() -> None:
        nonlocal events
        async for _ in stream:
            events += 1

    reader = asyncio.create_task(drain())
    t0 = time.process_time()
    for frame in frames(caller, 8000):
        for resampled in up.push(frame):
            stream.push_frame(resampled)
    stream.end_input()
    await reader
    results["caller audio: resample 8->16 kHz + Silero VAD"] = time.process_time() - t0

    results["_rss"] = rss_loaded
    return results


def main(argv: list[str] | None = None, out: Callable[[str], object] = print) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0)
    args = parser.parse_args(argv)
    results = asyncio.run(measure(args.minutes))
    rss = results.pop("_rss")
    out("| audio work | CPU s per call-minute |")
    out("|---|---:|")
    total = 0.0
    for name, seconds in results.items():
        per_minute = seconds / args.minutes
        total += per_minute
        out(f"| {name} | {per_minute:.3f} |")
    out(f"| total | {total:.3f} |")
    out("")
    out(f"share of one core per concurrent call: {total / 60 * 100:.2f}%")
    out(f"calls per core (audio work alone): {60 / total:.0f}")
    out(f"peak RSS with the VAD loaded: {rss:.0f} MB; calls per GB at that size: {1024 / rss:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
