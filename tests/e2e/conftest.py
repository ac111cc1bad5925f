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
    LINES,
    PRACTICE,
    PROVIDERS_PORT,
    RINGING_TIMEOUT,
    SILENCE_TIMEOUT,
    TRUNK_PASSWORD,
    TRUNK_USER,
    VENV,
    VOICEMAIL_GREETING,
    PhoneRun,
    World,
    greeting_to_wav,
    provider_script,
    speak_to_wav,
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
    work = rig.workdir / "world"
    work.mkdir()
    db = work / "outbound-caller.db"
    env = {
        **rig.livekit_env(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "OPENAI_API_KEY": "sk-rig",
        "DEEPGRAM_API_KEY": "rig",
        "CARTESIA_API_KEY": "rig",
        "OPENAI_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}/v1",
        "DEEPGRAM_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}/v1/listen",
        "CARTESIA_BASE_URL": f"http://127.0.0.1:{PROVIDERS_PORT}",
        "PRACTICE_NAME": PRACTICE,
        "PRACTICE_TIMEZONE": "America/New_York",
        "PRACTICE_CALLBACK_NUMBER": "+14155550100",
        "TURN_DETECTION": "vad",
        "RINGING_TIMEOUT": str(RINGING_TIMEOUT),
        "GREETING_DELAY": "3",
        "SILENCE_TIMEOUT": str(SILENCE_TIMEOUT),
        "HF_HUB_OFFLINE": "1",
        # the rig's servers, phones and models share this machine's cores with the worker:
        # a load report above the default 0.7 would have the server drop a test's dispatch
        "WORKER_LOAD_THRESHOLD": "1.0",
    }
    world = World(rig, work, db, env, worker=None, providers=None)  # type: ignore[arg-type]
    for args in (("db", "upgrade"), ("db", "seed-demo")):
        done = world.operator(*args)
        assert done.returncode == 0, done.stderr
    trunk = world.operator(
        "trunk",
        "create",
        "--address",
        f"{RIG_IP}:{PHONE_TLS_PORT}",
        "--numbers",
        "+14155550100",
        "--username",
        TRUNK_USER,
        "--password",
        TRUNK_PASSWORD,
    )
    assert trunk.returncode == 0, trunk.stderr
    env["SIP_OUTBOUND_TRUNK_ID"] = trunk.stdout.strip()

    script = work / "script.json"
    script.write_text(json.dumps(provider_script()))
    world.providers = rig.spawn(
        "providers",
        [
            str(VENV / "python"),
            str(HERE / "providers.py"),
            *("--port", str(PROVIDERS_PORT), "--script", str(script)),
            *("--log", str(work / "providers.jsonl")),
        ],
    )
    world.providers.wait_for("providers ready", 30)
    for key, text in LINES.items():
        world.wavs[key] = speak_to_wav(text, work / f"{key}.wav")
    world.wavs["voicemail"] = greeting_to_wav(VOICEMAIL_GREETING, work / "voicemail.wav")

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
