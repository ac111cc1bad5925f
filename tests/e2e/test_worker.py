"""The worker's own life through the real stack: start, register, a room it cannot join, the
server restarting under it, stop."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from e2e.rig import LIVEKIT_PORT, RIG_IP
from e2e.world import VENV, PhoneRun, World, place_call

IDLE_READY = "process initialized"
PROXY_PORT = 7990


def error_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if '"level": "ERROR"' in line]


def test_sigterm_to_the_whole_group_stops_an_idle_worker_cleanly(world: World) -> None:
    # a service manager (systemd's default KillMode, or `kill -TERM -<pgid>`) signals every
    # process of the worker at once, the forkserver and the idle job processes included.
    # It is this machine's second worker: the first holds the default health-check port.
    worker = world.spawn_worker({"HEALTH_PORT": "0"})
    try:
        worker.wait_for(IDLE_READY, 60)  # at least one idle job process is up
    finally:
        code = worker.stop(timeout=30)
    log = worker.text()
    assert code == 0, log
    assert "draining worker" in log
    assert "non-zero exit code" not in log, log
    assert error_lines(log) == []
    assert "Traceback" not in log, log


def test_a_room_the_agent_cannot_join_is_a_failed_call_told_in_one_line(world: World) -> None:
    # the worker registers through a proxy that refuses every room join with 503
    proxy = world.rig.spawn(
        "refusing-proxy",
        [
            str(VENV / "python"),
            str(Path(__file__).parent / "refusing_proxy.py"),
            *("--listen", f"{RIG_IP}:{PROXY_PORT}", "--upstream", f"{RIG_IP}:{LIVEKIT_PORT}"),
        ],
    )
    proxy.wait_for("proxy ready", 15)
    appointment = world.take_appointment()
    with world.worker_replaced({"LIVEKIT_URL": f"ws://{RIG_IP}:{PROXY_PORT}"}) as worker:
        room = place_call(world, appointment)
        row = world.call_row(room, timeout=90)
        world.wait_room_gone(room)
        log = worker.text()
    proxy.stop()

    assert "refused a room join" in proxy.text()
    assert (row["status"], row["hangup_reason"]) == ("failed", "room join failed")
    assert row["errors"] == "could not join the room"
    records = [json.loads(line) for line in error_lines(log)]
    ours = [r for r in records if r["name"].startswith("outbound_caller")]
    assert [r["message"] for r in ours] == ["could not join the room; the patient was not dialed"]
    assert "503" in ours[0]["detail"]
    # the framework's "unhandled exception" record, which carried the traceback twice, is gone
    assert not any("unhandled exception" in r["message"] for r in records), records
    assert "Traceback" not in log, log
    assert appointment.phone not in log


def test_a_worker_whose_server_restarts_registers_again_and_takes_the_next_call(
    world: World, phone: Any
) -> None:
    registered = world.worker.text().count("registered worker")
    log_start = len(world.worker.text())
    world.rig.restart_server()  # the worker's connection drops between calls

    deadline = time.monotonic() + 90
    while world.worker.text().count("registered worker") == registered:
        assert time.monotonic() < deadline, world.tail()
        assert world.worker.alive(), world.tail()
        time.sleep(0.25)
    world.registered[world.worker.name] = time.monotonic()

    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello", "speaking", "confirm", "bye"])
    room = place_call(world, appointment)
    handset.wait_event("disconnected", timeout=90)
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "completed"), dict(row)
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "confirmed", world.conversation(handset)
    assert "bye received" in handset.names()
    log = world.worker_log_since(log_start)
    assert "Traceback" not in log, log


def test_a_worker_told_to_stop_mid_call_finishes_it_while_the_next_call_goes_elsewhere(
    world: World, phones: Any
) -> None:
    first, second = world.take_appointment(), world.take_appointment()
    assert first.phone != second.phone
    script = ["hello", "speaking", "confirm", "bye"]
    lines = phones({first.phone: ("answer", script), second.phone: ("answer", script)})
    other = world.spawn_worker({"HEALTH_PORT": "0"})
    workers = [world.worker, other]
    try:
        room = place_call(world, first, workers=workers)
        lines[first.phone].wait_event("media up", timeout=30)
        (draining,) = [w for w in workers if room in w.text()]
        (staying,) = [w for w in workers if w is not draining]
        # what a service manager does: SIGTERM to the worker's whole process group
        os.killpg(draining.popen.pid, signal.SIGTERM)
        draining.wait_for("draining worker", 10)

        moved = place_call(world, second, workers=[staying])
        for number in (first.phone, second.phone):
            lines[number].wait_event("disconnected", timeout=90)
        code = draining.popen.wait(timeout=60)
    finally:
        # the world goes on with whichever worker is left running
        if world.worker.alive():
            other.stop(timeout=30)
        else:
            world.worker = other

    for call, appointment in ((room, first), (moved, second)):
        row = world.call_row(call)
        assert (row["status"], row["hangup_reason"]) == ("answered", "completed"), dict(row)
        (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
        assert after["status"] == "confirmed", world.conversation(
            lines[appointment.phone], patient=appointment.patient
        )
        assert "bye received" in lines[appointment.phone].names()
    assert moved in staying.text()
    log = draining.text()
    assert moved not in log
    assert code == 0, log
    assert error_lines(log) == []
    assert "Traceback" not in log, log


def test_a_worker_running_calls_as_threads_confirms_an_appointment(
    world: World, phone: Any
) -> None:
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello", "speaking", "confirm", "bye"])
    with world.worker_replaced({"JOB_EXECUTOR": "thread"}) as worker:
        room = place_call(world, appointment)
        handset.wait_event("disconnected", timeout=90)
        log = worker.text()
    row = world.call_row(room)
    assert (row["status"], row["hangup_reason"]) == ("answered", "completed"), dict(row)
    (after,) = world.query("SELECT status FROM appointments WHERE id = ?", appointment.id)
    assert after["status"] == "confirmed", world.conversation(handset)
    # the call ran in the worker's own process: its log lines carry the worker's pid
    worker_pid = json.loads(next(line for line in log.splitlines() if "registered worker" in line))[
        "pid"
    ]
    call_lines = [json.loads(line) for line in log.splitlines() if f'"room": "{room}"' in line]
    assert call_lines
    assert {line["pid"] for line in call_lines} == {worker_pid}
    assert error_lines(log) == []
    assert "Traceback" not in log, log
