"""The worker's own life through the real stack: start, register, stop."""

from __future__ import annotations

from e2e.rig import ROOT
from e2e.world import VENV, World

IDLE_READY = "process initialized"


def test_sigterm_to_the_whole_group_stops_an_idle_worker_cleanly(world: World) -> None:
    # a service manager (systemd's default KillMode, or `kill -TERM -<pgid>`) signals every
    # process of the worker at once, the forkserver and the idle job processes included.
    # It is this machine's second worker: the first holds the default health-check port.
    worker = world.rig.spawn(
        "worker-sigterm",
        [str(VENV / "python"), str(ROOT / "agent.py"), "start"],
        env={**world.env, "HEALTH_PORT": "0"},
    )
    try:
        worker.wait_for("registered worker", 90)
        worker.wait_for(IDLE_READY, 60)  # at least one idle job process is up
    finally:
        code = worker.stop(timeout=30)
    log = worker.text()
    assert code == 0, log
    assert "draining worker" in log
    assert "non-zero exit code" not in log, log
    errors = [line for line in log.splitlines() if '"level": "ERROR"' in line]
    assert errors == [], errors
    assert "Traceback" not in log, log
