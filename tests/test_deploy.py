"""The deployment files name commands, options and paths that exist. (Images cannot be
built on this machine; what can be checked without building is checked here.)"""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command

from outbound_caller.cli.main import app
from outbound_caller.worker import WORKER_COMMANDS

ROOT = Path(__file__).resolve().parents[1]
INSTALL = "/opt/outbound-caller"  # where the units expect the project


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(instruction, arguments) of a Dockerfile, continuation lines joined."""
    text = dockerfile.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def parses(args: list[str]) -> None:
    """``outbound-caller ARGS`` is a command line the CLI accepts (its usage error if not;
    typer carries its own copy of click, so the classes are typer's)."""
    command: Any = get_command(app)
    ctx = command.make_context("outbound-caller", [], resilient_parsing=True)
    words = list(args)
    while hasattr(command, "get_command"):  # a group: go down to the command named
        name = words.pop(0)
        found = command.get_command(ctx, name)
        assert found is not None, f"no command {name!r} in {args}"
        command = found
        ctx = command.make_context(name, [], parent=ctx, resilient_parsing=True)
    command.make_context(command.name or "", words, parent=ctx, resilient_parsing=False)


def test_the_dockerfile_installs_the_locked_project_and_starts_the_worker_as_non_root() -> None:
    steps = instructions((ROOT / "Dockerfile").read_text())
    for word, rest in steps:
        if word == "COPY":
            *sources, _target = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), source
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "uv sync --locked --no-dev" in runs
    assert "python agent.py download-files" in runs
    users = [rest for word, rest in steps if word == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    [cmd] = [rest for word, rest in steps if word == "CMD"]
    command = " ".join(json.loads(cmd))  # the exec (JSON) form
    assert command.endswith("python agent.py start")
    assert "start" in WORKER_COMMANDS
    assert (ROOT / "agent.py").is_file()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env.local" in ignored  # the practice's secrets never go into an image
    assert "*.db" in ignored  # nor its patients


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((ROOT / "deploy" / name).read_text())
    return parser


@pytest.mark.parametrize(
    "name",
    [
        "outbound-caller-worker.service",
        "outbound-caller-confirm.service",
        "outbound-caller-console.service",
    ],
)
def test_each_unit_runs_a_program_the_install_has_with_arguments_it_takes(name: str) -> None:
    service = unit(name)["Service"]
    assert service["WorkingDirectory"] == INSTALL
    assert service["User"] != "root"
    program, *args = shlex.split(service["ExecStart"])
    assert program.startswith(INSTALL + "/")
    installed = ROOT / program.removeprefix(INSTALL + "/")
    assert installed.exists(), f"{program} is not what ./scripts/dev installs"
    if installed.name == "outbound-caller":
        parses(args)
    else:
        assert args[0] == "agent.py"
        assert (ROOT / args[0]).is_file()
        assert args[1] in WORKER_COMMANDS


def test_the_worker_unit_lets_calls_in_progress_finish_before_it_is_killed() -> None:
    from outbound_caller.worker import DRAIN_TIMEOUT_S

    service = unit("outbound-caller-worker.service")["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert int(service["TimeoutStopSec"]) > DRAIN_TIMEOUT_S


def test_the_timer_starts_the_confirm_service_every_day() -> None:
    timer = unit("outbound-caller-confirm.timer")["Timer"]
    assert timer["OnCalendar"].startswith("*-*-* ")
    assert timer["Persistent"] == "true"
    # a timer starts the service of its own name
    assert (ROOT / "deploy" / "outbound-caller-confirm.service").is_file()


def test_the_command_line_check_refuses_what_the_cli_refuses() -> None:
    parses(["campaign", "run", "--date", "tomorrow"])
    with pytest.raises(Exception, match="No such option: --day"):
        parses(["campaign", "run", "--day", "tomorrow"])
    with pytest.raises(AssertionError, match="no command 'campain'"):
        parses(["campain", "run"])
