"""The end-to-end world: the real LiveKit stack (rig.py), the provider stand-ins, a real
worker process (``agent.py start``), a SQLite store with the demo practice, an outbound
trunk made by ``outbound-caller trunk create``, and the test phone (phone.py), all in the
rig's network namespace.

Where the rig cannot run (no root, no Go-built binaries), the e2e tests are skipped with
one line saying what is missing; with ``RIG_REQUIRED=1`` (set by ``.ci/run``) that is a
failure instead, so CI always runs them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.rig import PHONE_TLS_PORT, RIG_IP, Rig, missing_prerequisites
from e2e.world import (
    TRUNK_PASSWORD,
    TRUNK_USER,
    VENV,
    PhoneRun,
    World,
    build_world,
    provider_script,
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


def _phone_argv(world: World, *, password: str, bad_digest: str) -> list[str]:
    cert, key = world.rig.phone_cert
    return [
        str(VENV / "python"),
        str(HERE / "phone.py"),
        *("--ip", RIG_IP, "--port", str(PHONE_TLS_PORT)),
        *("--cert", str(cert), "--key", str(key)),
        *("--user", TRUNK_USER, "--password", password),
        *("--bad-digest", bad_digest),
    ]


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
            *_phone_argv(world, password=password, bad_digest=bad_digest),
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
    """``phones({number: (mode, [lines]), ...})`` starts one test phone answering each number
    as its own callee (by the INVITE's To user); returns each number's :class:`PhoneRun`."""
    procs = []

    def start(lines: dict[str, tuple[str, list[str]]]) -> dict[str, PhoneRun]:
        name = f"phones-{request.node.name}-{len(procs)}"
        specs, runs = [], {}
        for n, (number, (mode, say)) in enumerate(lines.items()):
            events, record = world.dir / f"{name}-{n}.jsonl", world.dir / f"{name}-{n}.wav"
            specs.append(
                {
                    "number": number,
                    "mode": mode,
                    "say": [str(world.wavs[line]) for line in say],
                    "events": str(events),
                    "record": str(record),
                }
            )
            runs[number] = (events, record)
        spec_path = world.dir / f"{name}.json"
        spec_path.write_text(json.dumps(specs))
        argv = [
            *_phone_argv(world, password=TRUNK_PASSWORD, bad_digest="forbid"),
            *("--lines", str(spec_path)),
        ]
        proc = world.rig.spawn(name, argv)
        proc.wait_for("phone ready", 20)
        procs.append(proc)
        return {number: PhoneRun(proc, *paths) for number, paths in runs.items()}

    yield start
    for proc in procs:
        proc.stop()
