"""The end-to-end world: the real LiveKit stack (rig.py), the provider stand-ins, a real
worker process (``agent.py start``), a SQLite store with the demo practice, an outbound
trunk made by ``outbound-caller trunk create``, and the test phone (phone.py), all in the
rig's network namespace.

Where the rig cannot run (no root, no Go-built binaries), the e2e tests are skipped with
one line saying what is missing; with ``RIG_REQUIRED=1`` (set by ``.ci/run``) that is a
failure instead, so CI always runs them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.rig import Rig, missing_prerequisites
from e2e.world import (
    TRUNK_PASSWORD,
    PhoneRun,
    World,
    build_world,
    phone_argv,
    provider_script,
    start_phones,
)

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = HERE
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


def _unavailable(reason: str) -> None:
    if os.environ.get("RIG_REQUIRED") == "1":
        pytest.fail(f"e2e: the rig is required here but cannot run: {reason}", pytrace=False)
    pytest.skip(f"e2e: {reason}")


@pytest.fixture(scope="session")
def rig() -> Iterator[Rig]:
    problem = missing_prerequisites()
    if problem:
        _unavailable(problem)
    stack = Rig(Path(tempfile.mkdtemp(prefix="outbound-caller-e2e-")))
    stack.start()
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def world(rig: Rig) -> Iterator[World]:
    world = build_world(rig, provider_script())
    world.start_worker()
    yield world
    world.worker.stop(timeout=20)
    world.providers.stop()


@pytest.fixture
def phone(world: World, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``phone(mode, say=[...])`` starts the test phone; stopped after the test."""
    runs: list[PhoneRun] = []

    def start(
        mode: str = "answer",
        *,
        say: list[str] = (),
        password: str = TRUNK_PASSWORD,  # type: ignore[assignment]
        hangup_mid_speech: int = 0,
        listen_first: bool = False,
        bad_digest: str = "forbid",
        refer: str = "accept",
    ) -> PhoneRun:
        name = f"phone-{request.node.name}-{len(runs)}"
        events, record = world.dir / f"{name}.jsonl", world.dir / f"{name}.wav"
        argv = [
            *phone_argv(world, password=password, bad_digest=bad_digest),
            *("--mode", mode, "--refer", refer),
            *("--events", str(events), "--record", str(record)),
            *("--hangup-mid-speech", str(hangup_mid_speech)),
        ]
        for line in say:
            argv += ["--say", str(world.wavs[line])]
        if listen_first:
            argv.append("--listen-first")
        proc = world.rig.spawn(name, argv)
        proc.wait_for("phone ready", 20)
        run = PhoneRun(proc, events, record)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


@pytest.fixture
def phones(world: World, request: pytest.FixtureRequest) -> Iterator[Any]:
    """``phones({number: (mode, [lines]), ...}, options={number: {...}})`` starts one test
    phone answering each number as its own callee (by the INVITE's To user), with phone.py's
    per-line options; returns each number's :class:`PhoneRun`."""
    started: list[dict[str, PhoneRun]] = []

    def start(
        lines: dict[str, tuple[str, list[str]]], options: dict[str, dict[str, Any]] | None = None
    ) -> dict[str, PhoneRun]:
        callees = {
            n: (mode, [world.wavs[line] for line in say]) for n, (mode, say) in lines.items()
        }
        name = f"phones-{request.node.name}-{len(started)}"
        started.append(start_phones(world, name, callees, options))
        return started[-1]

    yield start
    for runs in started:
        next(iter(runs.values())).stop()
