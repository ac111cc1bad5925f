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
