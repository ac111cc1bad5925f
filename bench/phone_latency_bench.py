"""Mouth-to-ear response latency at a real SIP phone, through the real stack.

The end-to-end rig (tests/e2e: livekit-server, livekit-sip, Redis, a pjsua2 phone and the
provider stand-ins, in a network namespace) with a real worker (``agent.py start``). The
phone answers, says "Hello?", then speaks the ten clips of ``bench/clips`` (each with one
mid-sentence pause) twice over, each once the agent has answered the one before and gone
quiet. The stand-ins are pinned like bench/latency_bench.py's fakes: a final transcript
150 ms after each spoken part ends (plus the recogniser's own decode time, reported), the
first LLM token after 250 ms, the first TTS audio after 100 ms.

Per turn, latency is from the end of the clip's speech as the phone sends it to the first
agent audio the phone receives (its recording: after its own jitter buffer, as a handset
hears it); agent audio starting before the clip's speech has ended is a false cut-off. Each
setting (TURN_TAKING) runs on its own worker, then ``bench/latency_bench.py`` runs the same
clips in-process with the same fakes, so the table shows what the media path adds. Also
timed: dispatch → INVITE at the phone, and answer → first agent audio for a callee who says
"Hello?" and for one who stays silent (GREETING_DELAY, 2 s by default).

Needs root and the rig's binaries (``scripts/rig build``)::

    .venv/bin/python bench/phone_latency_bench.py                  # 20 turns per setting
    .venv/bin/python bench/phone_latency_bench.py --turns 4 --settings tuned --no-in-process
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from latency_bench import CLIPS, load_clips  # noqa: E402

from e2e.hearing import SPEECH_RMS, spans  # noqa: E402
from e2e.rig import RTC_UDP_PORT, SIP_RTP_PORTS, Rig, missing_prerequisites  # noqa: E402
from e2e.world import (  # noqa: E402
    CHECK_IN,
    LINES,
    OPENING,
    SILENT_GOODBYE,
    TRUNK_PASSWORD,
    VENV,
    PhoneRun,
    World,
    build_world,
    phone_argv,
    phrase,
    place_call,
)

PINNED = {"stt_end_silence": 0.15, "llm_ttft": 0.25, "tts_ttfb": 0.10}
REPLY = "Okay, thank you."
IN_PROCESS = {"framework": "default", "tuned": "tuned"}  # TURN_TAKING → latency_bench's
ONSET_GAP_S = 0.3  # quiet that separates two agent utterances in the recording


def script() -> dict[str, Any]:
    parts = []
    for line in (CLIPS / "sentences.txt").read_text().splitlines():
        _, *halves = line.split("|")
        parts += [phrase(h) for h in halves] + [phrase(" ".join(halves))]
    return {
        "phrases": [phrase(LINES["hello"]), *parts],
        "llm": [
            {"user": "hello", "say": OPENING},
            {"instructions": "silent for a while", "say": CHECK_IN},
            {"instructions": "still silent after you checked in", "say": SILENT_GOODBYE},
            {"instructions": "", "say": OPENING},
            {"user": "", "say": REPLY},
        ],
        "fallback": REPLY,
        "latency": PINNED,
    }


HOPS = (  # (label, from, to): the parts a turn's latency splits into, in order
    ("phone sends", "speech_end", "rtp_out"),
    ("RTP → STT", "rtp_out", "stt_heard"),
    ("agent: heard → sends", "stt_heard", "agent_out"),
    ("server → livekit-sip", "agent_out", "sip_in"),
    ("livekit-sip → RTP", "sip_in", "rtp_in"),
    ("phone plays", "rtp_in", "heard"),
)
READY = (  # what the stand-ins had ready inside "agent: heard → sends", from its start
    ("STT final", "stt_final"),
    ("LLM first token", "llm_token"),
    ("TTS first audio", "tts_audio"),
)
BURST = (3, 0.07)  # speech on a WebRTC leg: 3 more packets within 70 ms (RTCP comes alone)


def _burst_start(times: list[float], after: float) -> float | None:
    """The first packet at or after ``after`` that starts a run of speech packets."""
    more, within = BURST
    for i, at in enumerate(times):
        if at >= after and sum(1 for u in times[i + 1 : i + 1 + more] if u - at <= within) >= more:
            return at
    return None


def timeline(
    speech_end: float, heard: float, log: list[dict[str, Any]], wire: list[dict[str, Any]]
) -> dict[str, float] | None:
    """When one turn reached each point, on one wall clock: the phone's last loud RTP packet
    of the turn, that audio at the STT stand-in, its final, the LLM's first token and the
    TTS's first audio, the agent's first speech packet to livekit-server, the server's to
    livekit-sip, and the first loud RTP packet of the answer at the phone. None when one of
    them did not see the turn (a cut-off)."""
    stt = next(
        (
            e
            for e in log
            if e["kind"] == "stt"
            and e.get("transcript")
            and speech_end - 0.05 <= e["last_loud_at"]
            and e["t"] <= heard
        ),
        None,
    )
    if stt is None:
        return None
    llm = next(
        (e for e in log if e["kind"] == "llm" and stt["t"] <= e["received_at"] <= heard), None
    )
    if llm is None:
        return None
    tts = next(
        (e for e in log if e["kind"] == "tts" and llm["t"] <= e["received_at"] <= heard), None
    )
    if tts is None:
        return None
    sent = [
        p["t"]
        for p in wire
        if p["dir"] == "from_phone" and p["rms"] >= SPEECH_RMS and p["t"] <= stt["last_loud_at"]
    ]

    def leg(direction: str, peer: str) -> list[float]:
        return [p["t"] for p in wire if p["dir"] == direction and p.get("peer") == peer]

    agent_out = _burst_start(leg("to_server", "python"), tts["t"])
    sip_in = _burst_start(leg("from_server", "livekit-sip"), (agent_out or heard) - 0.002)
    answer = [
        p["t"]
        for p in wire
        if p["dir"] == "to_phone"
        and p["rms"] >= SPEECH_RMS
        and (sip_in or heard) <= p["t"] <= heard
    ]
    if not sent or agent_out is None or sip_in is None or not answer:
        return None
    return {
        "speech_end": speech_end,
        "rtp_out": sent[-1],
        "stt_heard": stt["last_loud_at"],
        "stt_final": stt["t"],
        "llm_token": llm["t"],
        "tts_audio": tts["t"],
        "agent_out": agent_out,
        "sip_in": sip_in,
        "rtp_in": answer[0],
        "heard": heard,
    }


def hops(at: dict[str, float]) -> dict[str, float]:
    """A turn's timeline as its hops (ms; they add up to the whole turn), then what was
    ready when inside the agent's hop (ms from its start)."""
    split = {label: (at[to] - at[since]) * 1000 for label, since, to in HOPS}
    ready = {label: (at[mark] - at["stt_heard"]) * 1000 for label, mark in READY}
    return split | ready


@dataclass
class Row:
    setting: str
    turns: int
    answered: int
    p50: float
    p95: float
    cutoffs: int
    invite_ms: float
    hello_ms: float
    silent_ms: float
    stt_decode_ms: float
    hops: dict[str, float]  # the median of each hop, ms
    split: int  # turns the hops are over
    jitter_ms: float  # the phone's receive jitter buffer, its average delay over the call


def _speech_end(path: Path) -> float:
    """Seconds into a 16-bit 8 kHz WAV where its last loud 20 ms frame ends."""
    import wave

    with wave.open(str(path)) as w:
        pcm = w.readframes(w.getnframes())
    found = spans(pcm, 0.0, gap=0.05)
    return found[-1][1] if found else 0.0


def _onsets(handset: PhoneRun) -> list[float]:
    pcm, started = handset.recording()
    return [begin for begin, _ in spans(pcm, started, gap=ONSET_GAP_S)]


def _dispatch_at(rig: Rig, room: str) -> float:
    for line in (rig.workdir / "livekit-server.log").read_text(errors="replace").splitlines():
        if "AgentDispatchService.CreateDispatch" in line and f'"room": "{room}"' in line:
            stamp = line.split("\t", 1)[0]
            return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    raise RuntimeError(f"no CreateDispatch for {room} in the server's log")


def _phone(world: World, name: str, lines: list[Path], *, listen_first: bool = False) -> PhoneRun:
    events, record = world.dir / f"{name}.jsonl", world.dir / f"{name}.wav"
    argv = [
        *phone_argv(world, password=TRUNK_PASSWORD, bad_digest="forbid"),
        *("--mode", "answer", "--events", str(events), "--record", str(record)),
    ]
    for line in lines:
        argv += ["--say", str(line)]
    if listen_first:
        argv.append("--listen-first")
    proc = world.rig.spawn(name, argv)
    proc.wait_for("phone ready", 20)
    return PhoneRun(proc, events, record)


def _call(world: World, handset: PhoneRun, timeout: float) -> str:
    room = place_call(world, world.take_appointment())
    handset.wait_event("disconnected", timeout=timeout)
    handset.stop()
    return room


def run_setting(world: World, setting: str, turns: int) -> Row:
    clips = load_clips()
    wavs = [
        world.wavs["hello"],
        *(CLIPS / f"{clips[i % len(clips)].name}.wav" for i in range(turns)),
    ]
    ends = [_speech_end(p) for p in wavs]
    with world.worker_replaced({"TURN_TAKING": setting}):
        log_start = len((world.dir / "providers.jsonl").read_text())
        packets = world.dir / f"rtp-{setting}.jsonl"
        tap = world.rig.spawn(
            f"rtp-tap-{setting}",
            [
                str(VENV / "python"),
                str(ROOT / "tests" / "e2e" / "rtp_tap.py"),
                *("--out", str(packets), "--sip-ports", "-".join(map(str, SIP_RTP_PORTS))),
                *("--rtc-port", str(RTC_UDP_PORT)),
            ],
        )
        tap.wait_for("tap ready", 20)
        talker = _phone(world, f"talker-{setting}", wavs)
        room = _call(world, talker, timeout=60 + turns * 12)
        tap.stop()
        silent = _phone(world, f"silent-{setting}", [], listen_first=True)
        _call(world, silent, timeout=60)
    said = [e for e in talker.events() if e["event"] == "said"]
    onsets = _onsets(talker)
    log = [
        json.loads(x)
        for x in (world.dir / "providers.jsonl").read_text()[log_start:].splitlines()
        if x
    ]
    rtp = [json.loads(x) for x in packets.read_text().splitlines() if x]
    latencies, cutoffs, splits = [], 0, []
    for n, event in enumerate(said[1:], start=1):
        speech_end = event["start"] + ends[n]
        following = said[n + 1]["start"] if n + 1 < len(said) else float("inf")
        if any(event["start"] < t < speech_end for t in onsets):
            cutoffs += 1
        after = [t for t in onsets if speech_end <= t < following]
        if after:
            latencies.append((after[0] - speech_end) * 1000)
            if (at := timeline(speech_end, after[0], log, rtp)) is not None:
                splits.append(hops(at))
    hello_end = said[0]["start"] + ends[0]
    answered_at = talker.first("answered")["t"]
    first_audio = min(t for t in onsets if t > answered_at)
    silent_onsets = _onsets(silent)
    decodes = [e["decode"] * 1000 for e in log if e.get("kind") == "stt" and "decode" in e]
    return Row(
        setting=setting,
        turns=len(said) - 1,
        answered=len(latencies),
        p50=statistics.median(latencies) if latencies else float("nan"),
        p95=_p95(latencies),
        cutoffs=cutoffs,
        invite_ms=(talker.first("invite")["t"] - _dispatch_at(world.rig, room)) * 1000,
        hello_ms=(first_audio - max(answered_at, hello_end)) * 1000,
        silent_ms=(silent_onsets[0] - silent.first("answered")["t"]) * 1000
        if silent_onsets
        else float("nan"),
        stt_decode_ms=statistics.median(decodes) if decodes else float("nan"),
        hops={
            label: statistics.median(s[label] for s in splits) if splits else float("nan")
            for label in [h[0] for h in HOPS] + [r[0] for r in READY]
        },
        split=len(splits),
        jitter_ms=next(
            (e["avg_ms"] for e in talker.events() if e["event"] == "jitter buffer"), float("nan")
        ),
    )


def _p95(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def in_process(settings: list[str], turns: int) -> dict[str, str]:
    """bench/latency_bench.py's rows for the same settings (VAD turn detection)."""
    configs = ",".join(IN_PROCESS[s] for s in settings)
    command = [sys.executable, str(ROOT / "bench" / "latency_bench.py"), "--detectors", "vad"]
    done = subprocess.run(
        [*command, "--configs", configs, "--turns", str(turns)],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {}
    for line in done.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 6 and cells[0] == "vad":
            setting = next(s for s, c in IN_PROCESS.items() if c == cells[1])
            rows[setting] = " | ".join(cells[2:7])
    return rows


@contextmanager
def bench_world(prefix: str) -> Iterator[World]:
    """The rig, the world with the pinned stand-ins (and GREETING_DELAY's 2 s default) and
    its worker, all stopped afterwards."""
    rig = Rig(Path(tempfile.mkdtemp(prefix=prefix)))
    rig.start()
    try:
        world = build_world(rig, script(), env={"GREETING_DELAY": "2.0"})
        world.start_worker()
        try:
            yield world
        finally:
            world.worker.stop(timeout=20)
            world.providers.stop()
    finally:
        rig.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--settings", default="framework,tuned")
    parser.add_argument("--no-in-process", action="store_true")
    args = parser.parse_args(argv)
    problem = missing_prerequisites()
    if problem:
        print(f"phone_latency_bench: {problem}", file=sys.stderr)
        return 2
    settings = args.settings.split(",")
    rows: list[Row] = []
    began = time.monotonic()
    with bench_world("outbound-caller-bench-") as world:
        for setting in settings:
            rows.append(run_setting(world, setting, args.turns))
    print(f"rig run: {time.monotonic() - began:.0f} s; pinned: {PINNED}")
    print(
        "| path | TURN_TAKING | turns | answered | p50 ms | p95 ms | false cut-offs "
        "| STT decode ms (p50) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| phone, real stack | {r.setting} | {r.turns} | {r.answered} | {r.p50:.0f} | "
            f"{r.p95:.0f} | {r.cutoffs} | {r.stt_decode_ms:.0f} |"
        )
    if not args.no_in_process:
        for setting, cells in in_process(settings, args.turns).items():
            print(f"| in-process (latency_bench.py) | {setting} | {cells} | - |")
    print()
    print(
        '| TURN_TAKING | dispatch → INVITE ms | answer → first audio, "Hello?" ms '
        "| answer → first audio, silent ms |"
    )
    print("|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r.setting} | {r.invite_ms:.0f} | {r.hello_ms:.0f} | {r.silent_ms:.0f} |")
    print()
    print(
        "Where a turn's time goes (median ms of each hop, over the turns the wire and the "
        "stand-ins saw):"
    )
    print()
    labels = " | ".join(label for label, _, _ in HOPS)
    print(f"| TURN_TAKING | turns | {labels} | sum | phone's jitter buffer (avg) |")
    print("|---|---:|" + "---:|" * (len(HOPS) + 2))
    for r in rows:
        cells = " | ".join(f"{r.hops[label]:.0f}" for label, _, _ in HOPS)
        total = sum(r.hops[label] for label, _, _ in HOPS)
        print(f"| {r.setting} | {r.split} | {cells} | {total:.0f} | {r.jitter_ms:.0f} |")
    print()
    print('Inside "agent: heard → sends" (median ms from its start: when each stand-in was done):')
    print()
    print("| TURN_TAKING | " + " | ".join(label for label, _ in READY) + " | agent sends |")
    print("|---|" + "---:|" * (len(READY) + 1))
    for r in rows:
        cells = " | ".join(f"{r.hops[label]:.0f}" for label, _ in READY)
        print(f"| {r.setting} | {cells} | {r.hops['agent: heard → sends']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
