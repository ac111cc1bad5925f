"""The benchmarks keep working: each runs briefly here. No timing is asserted."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import store_bench


def test_store_benchmark_runs_and_prints_its_table() -> None:
    lines: list[str] = []
    code = store_bench.main(
        [
            "--backend",
            "sqlite",
            "--providers",
            "2",
            "--days",
            "10",
            "--lookups",
            "5",
            "--bookings",
            "2",
        ],
        out=lines.append,
    )
    assert code == 0
    assert lines[0].startswith("| backend | operation |")
    assert any(line.startswith("| sqlite | availability") for line in lines)
    assert any(line.startswith("| sqlite | booking") for line in lines)


def test_campaign_benchmark_runs_and_prints_its_table() -> None:
    import campaign_bench

    lines: list[str] = []
    code = campaign_bench.main(
        ["--backend", "sqlite", "--people", "50", "--calls", "5", "--rate", "20"],
        out=lines.append,
    )
    assert code == 0
    assert lines[0].startswith("| backend | plan N people |")
    assert lines[2].startswith("| sqlite | 50 |")


def test_latency_benchmark_runs_a_few_turns_and_prints_its_table() -> None:
    import latency_bench

    lines: list[str] = []
    code = latency_bench.main(
        ["--turns", "1", "--detectors", "vad", "--configs", "tuned"], out=lines.append
    )
    assert code == 0
    rows = [line for line in lines if line.startswith("| vad | tuned | 1 |")]
    assert len(rows) == 1
    assert rows[0].split("|")[4].strip() == "1"  # the agent answered the one turn


def test_latency_clips_are_telephony_rate_with_a_pause_each() -> None:
    import latency_bench

    clips = latency_bench.load_clips()
    assert len(clips) == 10
    for clip in clips:
        assert 2.0 < len(clip.pcm) / 8000 < 6.0
        assert clip.pauses, clip.name  # every clip has a mid-sentence pause


def test_capacity_benchmark_runs_and_prints_its_table() -> None:
    import capacity_bench

    lines: list[str] = []
    assert capacity_bench.main(["--minutes", "0.05"], out=lines.append) == 0
    assert lines[0] == "| audio work | CPU s per call-minute |"
    assert any(line.startswith("calls per core") for line in lines)


def test_import_benchmark_runs_and_prints_its_table() -> None:
    import import_bench

    lines: list[str] = []
    code = import_bench.main(["--backend", "sqlite", "--sizes", "300"], out=lines.append)
    assert code == 0
    assert lines[0].startswith("| backend | file | rows |")
    assert any(line.startswith("| sqlite | patients | 300 |") for line in lines)
    assert any(line.startswith("| sqlite | appointments | 300 |") for line in lines)


def test_mutation_script_makes_one_change_per_mutant_each_a_valid_module() -> None:
    import ast

    import mutation

    relative, tests = mutation.MODULES["dispatch"]
    found = list(mutation.mutants("dispatch", relative))
    original = ast.unparse(ast.parse((mutation.SRC / relative).read_text()))
    assert len(found) > 50
    assert all(m.source != original for m in found)  # every mutant changes something
    assert len({m.source for m in found}) == len(found)  # and no two the same
    for m in found:
        ast.parse(m.source)
    changes = {(m.line, m.change) for m in found}
    # the metadata size cap, off by one; and a refusal that no longer happens
    assert any(change == "4096 -> 4097" for _, change in changes)
    assert any(change == "raise -> pass" for _, change in changes)
    assert all(Path(t).exists() for _, ts in mutation.MODULES.values() for t in ts)
    assert all((mutation.SRC / rel).exists() for rel, _ in mutation.MODULES.values())
    assert tests


def test_the_phone_benchmark_splits_a_turn_at_what_the_wire_and_the_stand_ins_saw() -> None:
    from phone_latency_bench import hops, timeline

    log = [
        # the final at the clip's mid-sentence pause, and the model's reply to it, come first
        {"kind": "stt", "transcript": "i was", "last_loud_at": 99.0, "t": 99.3},
        {"kind": "llm", "received_at": 99.35, "t": 99.6},
        {"kind": "stt", "transcript": "wondering", "last_loud_at": 100.2, "t": 100.4},
        {"kind": "llm", "received_at": 100.45, "t": 100.7},
        {"kind": "tts", "received_at": 100.75, "t": 100.85},
        {"kind": "tts", "received_at": 101.5, "t": 101.6},  # a later turn's
    ]
    agent = [100.9, 101.1, 101.12, 101.14, 101.16]  # a lone RTCP packet, then speech
    wire = [
        {"dir": "from_phone", "t": 100.0, "rms": 2000},  # the patient's last loud packets
        {"dir": "from_phone", "t": 100.02, "rms": 1500},
        {"dir": "from_phone", "t": 100.04, "rms": 10},
        *({"dir": "to_server", "peer": "python", "t": at, "size": 90} for at in agent),
        *({"dir": "from_server", "peer": "livekit-sip", "t": at + 0.001} for at in agent[1:]),
        {"dir": "to_phone", "t": 101.18, "rms": 5},
        {"dir": "to_phone", "t": 101.2, "rms": 3000},  # the answer's first loud packet
    ]
    at = timeline(99.98, 101.22, log, wire)
    assert at is not None
    split = {k: round(v) for k, v in hops(at).items()}
    assert split == {
        "phone sends": 40,
        "RTP → STT": 180,
        "agent: heard → sends": 900,
        "server → livekit-sip": 1,
        "livekit-sip → RTP": 99,
        "phone plays": 20,
        "STT final": 200,  # what was ready inside the agent's 900 ms
        "LLM first token": 500,
        "TTS first audio": 650,
    }
    assert sum(list(split.values())[:6]) == 1240  # the whole turn, speech end to the phone
    assert timeline(99.98, 100.3, log, wire) is None  # heard before the STT's final
    assert timeline(99.98, 101.22, log, wire[:3]) is None  # no answer on the wire
