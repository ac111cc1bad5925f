"""pass^k for the real-model evaluations (a pytest plugin, loaded by conftest.py): each
scenario with a `run` argument runs EVAL_K times (5 unless set), and a scenario passes only
when every run did, as tau-bench counts it."""

from __future__ import annotations

import os
from collections import defaultdict

import pytest

K = int(os.environ.get("EVAL_K", "5"))
_runs: dict[str, list[bool]] = defaultdict(list)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run" in metafunc.fixturenames:
        metafunc.parametrize("run", range(K), ids=lambda i: f"run{i + 1}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and "[run" in report.nodeid:
        _runs[report.nodeid.split("[run")[0]].append(report.passed)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _runs:
        return
    terminalreporter.section(f"pass^{K} (every one of {K} runs passed)")
    for scenario, results in sorted(_runs.items()):
        verdict = "PASS" if len(results) == K and all(results) else "fail"
        name = scenario.rsplit("::", 1)[-1]
        terminalreporter.write_line(f"{verdict}  {sum(results)}/{len(results)}  {name}")
    passed = sum(1 for r in _runs.values() if len(r) == K and all(r))
    terminalreporter.write_line(f"pass^{K}: {passed} of {len(_runs)} scenarios")
