"""The practice's webhook through the real stack: a worker killed after the call but before
its event got through delivers nothing twice and loses nothing: the next worker posts it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from e2e.rig import RIG_IP
from e2e.world import VENV, PhoneRun, World, place_call
from outbound_caller.webhooks.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, verify

RECEIVER_PORT = 7991
SECRET = "whsec-e2e-0123456789"


def requests_in(log: Path) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line]


def wait_requests(log: Path, condition: Any, timeout: float, what: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = requests_in(log)
        if condition(seen):
            return seen
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s; the receiver saw: {requests_in(log)}")


def test_a_worker_killed_before_its_calls_event_got_through_leaves_it_to_the_next(
    world: World, phone: Any
) -> None:
    down = world.dir / "receiver-down"
    down.touch()
    log = world.dir / "webhook-requests.jsonl"
    receiver = world.rig.spawn(
        "webhook-receiver",
        [
            str(VENV / "python"),
            str(Path(__file__).parent / "webhook_receiver.py"),
            *("--listen", f"{RIG_IP}:{RECEIVER_PORT}", "--log", str(log)),
            *("--down-while", str(down)),
        ],
    )
    receiver.wait_for("receiver ready", 15)
    env = {"WEBHOOK_URL": f"http://{RIG_IP}:{RECEIVER_PORT}/hooks/calls", "WEBHOOK_SECRET": SECRET}
    appointment = world.take_appointment()
    handset: PhoneRun = phone("answer", say=["hello", "speaking", "confirm", "bye"])
    try:
        with world.worker_replaced(env) as worker:
            room = place_call(world, appointment)
            handset.wait_event("disconnected", timeout=90)
            row = world.call_row(room)
            # the worker posts the event; the receiver is down
            wait_requests(log, lambda seen: len(seen) >= 1, 30, "no attempt arrived")
            # the worker dies (power cut, OOM kill): no drain, no last attempt
            os.killpg(worker.popen.pid, signal.SIGKILL)
            worker.popen.wait(timeout=10)
            down.unlink()
            world.worker = world.spawn_worker(env)  # the service manager starts it again
            seen = wait_requests(
                log,
                lambda seen: any(r["status"] == 200 for r in seen),
                120,
                "the event was not delivered after the restart",
            )
    finally:
        receiver.stop()

    assert (row["status"], row["hangup_reason"]) == ("answered", "completed"), dict(row)
    bodies = [json.loads(r["body"]) for r in seen]
    assert {b["id"] for b in bodies} == {bodies[0]["id"]}  # one event, posted again as is
    assert {r["body"] for r in seen} == {seen[0]["body"]}
    event = bodies[0]
    assert (event["type"], event["call"]["id"], event["call"]["status"]) == (
        "call.ended",
        row["id"],
        "answered",
    )
    assert event["call"]["appointment_id"] == appointment.id
    for r in seen:
        assert r["headers"][EVENT_ID_HEADER] == event["id"]
        assert verify(SECRET, r["headers"][SIGNATURE_HEADER], r["body"].encode(), now=r["at"])
    assert [r["status"] for r in seen][-1] == 200
    assert [r["status"] for r in seen].count(200) == 1
    (stored,) = world.query(
        "SELECT attempts, delivered_at FROM webhook_events WHERE event_id = ?", event["id"]
    )
    assert stored["delivered_at"] is not None
    # each post was one claim (a claim the kill cut short before its post may add one);
    # delivered, the event is claimed no more
    assert len(seen) <= stored["attempts"] <= len(seen) + 1
