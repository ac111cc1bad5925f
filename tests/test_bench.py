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
