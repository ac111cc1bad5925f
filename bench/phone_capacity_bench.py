"""Capacity through the real media path: N calls at once on one worker, phones talking.

The end-to-end rig as in bench/phone_latency_bench.py (same pinned stand-ins), one worker,
and one test phone answering N numbers at once, each callee saying "Hello?" and then the
benchmark clips, one per turn. Per level: the CPU the worker used (its own process and its
job processes), the CPU of the rig around it (livekit-server, livekit-sip, Redis, the phone,
the provider stand-ins), the RSS of each job process (with JOB_EXECUTOR=thread: what the
worker's one process grew by per call), and the mouth-to-ear p95 over every turn of every
call. Both job executors run: a process per call (the framework's default) and threads
sharing one process and one VAD.

    .venv/bin/python bench/phone_capacity_bench.py                     # 1, 2, 4, 8 calls
    .venv/bin/python bench/phone_capacity_bench.py --levels 1,2 --executors process --turns 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from phone_latency_bench import CLIPS, _onsets, _p95, _speech_end, bench_world, load_clips

from e2e.rig import missing_prerequisites
from e2e.world import VENV, World, start_phones, wait_worker_available

DISPATCH = """
import asyncio, os, secrets, sys
from outbound_caller.config import load_livekit
from outbound_caller.dispatch import DispatchMetadata
from outbound_caller.liveapi import create_call, livekit_api

async def main():
    async with livekit_api(load_livekit(os.environ)) as lk:
        for number in sys.argv[1:]:
            meta = DispatchMetadata(phone_number=number)
            await create_call(lk, meta, room=f"capacity-{secrets.token_hex(4)}")

asyncio.run(main())
"""
NUMBERS = [f"+14155550{140 + n}" for n in range(1, 17)]  # the fictional 555-01xx range
SAMPLE_S = 0.5
INVITE_WAIT_S = 20.0  # a dispatch a worker takes reaches the phone in about a second


@dataclass
class Meter:
    """CPU seconds and peak RSS of process trees, sampled while the calls run."""

    roots: dict[str, int]  # label → pid
    cpu: dict[tuple[str, int], float] = field(default_factory=dict)  # (label, pid) → seconds
    rss: dict[tuple[str, int], float] = field(default_factory=dict)  # (label, pid) → peak MB
    parents: dict[int, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _sample(self) -> None:
        for label, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for proc in procs:
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        self.cpu[(label, proc.pid)] = times.user + times.system
                        mb = proc.memory_info().rss / 2**20
                        self.parents[proc.pid] = proc.ppid()
                except psutil.NoSuchProcess:
                    continue
                key = (label, proc.pid)
                self.rss[key] = max(self.rss.get(key, 0.0), mb)

    def start(self) -> Meter:
        self._sample()
        self._base = dict(self.cpu)
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_S):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._sample()

    def cpu_of(self, label: str) -> float:
        return sum(s - self._base.get(k, 0.0) for k, s in self.cpu.items() if k[0] == label)

    def job_rss(self, worker_pid: int) -> list[float]:
        """Peak RSS of the job processes: the worker's grandchildren (its forkserver's
        children), or none when calls run as threads."""
        children = {p for p, parent in self.parents.items() if parent == worker_pid}
        return [
            mb
            for (label, pid), mb in self.rss.items()
            if label == "agent" and self.parents.get(pid) in children
        ]


@dataclass
class Level:
    executor: str
    calls: int
    taken: int
    call_minutes: float
    agent_cpu: float
    rig_cpu: float
    job_rss: float
    worker_rss: float
    p95: float
    turns: int


def run_level(world: World, executor: str, calls: int, turns: int) -> Level:
    clips = load_clips()
    wavs = [
        world.wavs["hello"],
        *(CLIPS / f"{clips[i % len(clips)].name}.wav" for i in range(turns)),
    ]
    ends = [_speech_end(p) for p in wavs]
    numbers = NUMBERS[:calls]
    lines = start_phones(
        world, f"capacity-{executor}-{calls}", {n: ("answer", wavs) for n in numbers}
    )
    wait_worker_available(world)
    rig_roots = {
        p.name: p.popen.pid
        for p in world.rig.procs
        if p.alive() and p.name in ("livekit-server", "livekit-sip", "redis", "providers")
    }
    rig_roots["phone"] = next(iter(lines.values())).proc.popen.pid
    meter = Meter(
        {"agent": world.worker.popen.pid, **{f"rig:{k}": v for k, v in rig_roots.items()}}
    )
    meter.start()
    # one process dispatches them all, as the CLI does (create_call): N command-line
    # processes starting at once would load this machine's cores past the worker's threshold
    dispatcher = world.rig.run(
        [str(VENV / "python"), "-c", DISPATCH, *numbers], env=world.env, timeout=60
    )
    if dispatcher.returncode != 0:
        raise RuntimeError(f"dispatching failed: {dispatcher.stderr}")
    # a worker at full capacity (CPU load at WORKER_LOAD_THRESHOLD) refuses a dispatch, and
    # the server then drops it: that callee's phone never rings
    waited = time.monotonic() + INVITE_WAIT_S
    while time.monotonic() < waited and not all("invite" in r.names() for r in lines.values()):
        time.sleep(0.5)
    rang = [run for run in lines.values() if "invite" in run.names()]
    deadline = time.monotonic() + 90 + turns * 15
    for run in rang:
        run.wait_event("disconnected", timeout=max(1.0, deadline - time.monotonic()))
    meter.stop()
    next(iter(lines.values())).proc.stop()
    latencies: list[float] = []
    minutes, taken = 0.0, 0
    for run in lines.values():
        names = run.names()
        if "answered" not in names:
            continue
        taken += 1
        minutes += (run.first("disconnected")["t"] - run.first("answered")["t"]) / 60
        said = [e for e in run.events() if e["event"] == "said"]
        onsets = _onsets(run)
        for n, event in enumerate(said[1:], start=1):
            speech_end = event["start"] + ends[n]
            following = said[n + 1]["start"] if n + 1 < len(said) else float("inf")
            after = [t for t in onsets if speech_end <= t < following]
            if after:
                latencies.append((after[0] - speech_end) * 1000)
    rss = meter.job_rss(world.worker.popen.pid)
    worker_rss = meter.rss.get(("agent", world.worker.popen.pid), 0.0)
    rig_cpu = sum(meter.cpu_of(label) for label in meter.roots if label.startswith("rig:"))
    return Level(
        executor,
        calls,
        taken,
        minutes,
        meter.cpu_of("agent"),
        rig_cpu,
        statistics.median(rss) if rss else float("nan"),
        worker_rss,
        _p95(latencies),
        len(latencies),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8")
    parser.add_argument("--executors", default="process,thread")
    parser.add_argument("--turns", type=int, default=6)
    args = parser.parse_args(argv)
    problem = missing_prerequisites()
    if problem:
        print(f"phone_capacity_bench: {problem}", file=sys.stderr)
        return 2
    rows: list[Level] = []
    began = time.monotonic()
    with bench_world("outbound-caller-capacity-") as world:
        for executor in args.executors.split(","):
            # judged by CPU load, as a worker is by default: the capacity is what is measured
            by_cpu = {"WORKER_MAX_CALLS": "", "WORKER_LOAD_THRESHOLD": "1.0"}
            with world.worker_replaced({"JOB_EXECUTOR": executor, **by_cpu}):
                for level in (int(x) for x in args.levels.split(",")):
                    rows.append(run_level(world, executor, level, args.turns))
                    print(rows[-1], file=sys.stderr, flush=True)
    print(f"rig run: {time.monotonic() - began:.0f} s; {psutil.cpu_count()} cores")
    print(
        "| JOB_EXECUTOR | calls at once | answered | turns | p95 ms | agent CPU s per "
        "call-minute | rig CPU s per call-minute | RSS per job process MB | worker RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        per = max(r.call_minutes, 1e-9)
        # threads have no job processes (a grandchild then is some short-lived helper)
        job = f"{r.job_rss:.0f}" if r.executor == "process" else "-"
        print(
            f"| {r.executor} | {r.calls} | {r.taken} | {r.turns} | {r.p95:.0f} | "
            f"{r.agent_cpu / per:.1f} | {r.rig_cpu / per:.1f} | {job} | {r.worker_rss:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
