"""A day's campaign through the real stack, on two workers at once: the practice imports the
day's patients and appointments, ``outbound-caller campaign run --date D`` dials them, and
one test phone answers each number as its own callee."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import date, datetime, timedelta
from typing import Any

from e2e.expect import PRACTICE_ZONE
from e2e.rig import Proc
from e2e.world import VENV, PhoneRun, World, wait_worker_available

# six patients of the day; the demo's own appointments fill the next fortnight only
PATIENTS = [
    ("Ava Brooks", "+14155550201", "answer"),
    ("Ben Carter", "+14155550202", "answer"),
    ("Chloe Davis", "+14155550203", "busy"),
    ("Daniel Evans", "+14155550204", "answer"),
    ("Ella Foster", "+14155550205", "ring"),  # rings until the dial gives up
    ("Finn Garcia", "+14155550206", "answer"),
]
SCRIPT = ["hello", "speaking", "confirm", "bye"]
RETRY = timedelta(minutes=120)  # the campaign's default backoff before a second attempt


def campaign_day() -> date:
    """A weekday past the demo's fortnight, in the practice's zone."""
    day = datetime.now(PRACTICE_ZONE).date() + timedelta(days=17)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def import_the_day(world: World, day: date) -> None:
    patients = world.dir / "campaign-patients.csv"
    patients.write_text(
        "name,phone,timezone\n" + "".join(f"{n},{p},\n" for n, p, _ in PATIENTS), "utf-8"
    )
    appointments = world.dir / "campaign-appointments.csv"
    rows = []
    for n, (_, phone, _) in enumerate(PATIENTS):
        start = datetime(day.year, day.month, day.day, 9, 0, tzinfo=PRACTICE_ZONE)
        start += timedelta(minutes=30 * n)
        rows.append(f"{phone},Dr. Maya Rivera,Check-up,{start.isoformat()}\n")
    appointments.write_text("patient_phone,provider,type,start\n" + "".join(rows), "utf-8")
    for path in (patients, appointments):
        done = world.operator("import", str(path))
        assert done.returncode == 0, done.stdout + done.stderr


def summary_rows(output: str) -> dict[str, int]:
    """The summary table's rows, label → count."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^\W*([a-z][a-z :-]*?)\s*\W\s*(\d+)\s*\W*$", line)
        if match:
            rows[match.group(1)] = int(match.group(2))
    return rows


def test_a_campaign_on_two_workers_calls_each_patient_once_and_schedules_retries(
    world: World, phones: Any
) -> None:
    day = campaign_day()
    import_the_day(world, day)
    lines: dict[str, PhoneRun] = phones(
        {phone: (mode, SCRIPT if mode == "answer" else []) for _, phone, mode in PATIENTS}
    )
    other = world.spawn_worker({"HEALTH_PORT": "0"})
    workers: list[Proc] = [world.worker, other]
    try:
        for worker in workers:
            wait_worker_available(world, worker)
        with world.open_around_the_clock():
            run = world.rig.spawn(
                "campaign",
                [str(VENV / "outbound-caller"), "campaign", "run", "--date", day.isoformat()],
                env=world.env,
            )
            # the first attempts settle; the two unreached wait for their retry (a busy line
            # and an unanswered one are called again later, at most once a day), and the
            # run waits with them until the front desk stops it
            targets = _settled(world, day, timeout=300)
            os.killpg(run.popen.pid, signal.SIGINT)
            code = run.popen.wait(timeout=30)
    finally:
        other.stop(timeout=30)
    output = run.text()
    assert code == 130, output
    assert f"--resume {targets[0]['campaign_id']}" in output

    calls = world.query(
        "SELECT c.* FROM calls c JOIN campaigns k ON k.id = c.campaign_id "
        "WHERE k.day = ? ORDER BY c.placed_at",
        day.isoformat(),
    )
    # each patient was dialed once: the phone saw one authenticated INVITE per number, and
    # each call ended as the phone saw it
    assert sorted(c["phone"] for c in calls) == sorted(p for _, p, _ in PATIENTS)
    seen = {"answer": "answered", "busy": "busy", "ring": "no_answer"}
    by_phone = {c["phone"]: c for c in calls}
    for _, phone, mode in PATIENTS:
        events = lines[phone].names()
        assert events.count("auth ok") == 1, (phone, events)
        assert by_phone[phone]["status"] == seen[mode], (phone, dict(by_phone[phone]))
        if mode == "answer":
            assert "bye received" in events, (phone, events)
            assert by_phone[phone]["hangup_reason"] == "completed"

    # every call ran on one worker, which logged its end (and wrote its outcome); both
    # workers took calls
    ran_on: dict[str, str] = {}
    for call in calls:
        [worker] = [w for w in workers if f'"room": "{call["room"]}"' in w.text()]
        assert '"message": "call ended"' in _lines_of(worker, call["room"])
        ran_on[call["room"]] = worker.name
    assert set(ran_on.values()) == {w.name for w in workers}, ran_on

    # the unreached are due again once the backoff after their call has passed
    for target in targets:
        call = by_phone[target["phone"]]
        if call["status"] == "answered":
            assert target["state"] == "done"
            continue
        assert (target["state"], target["attempts"]) == ("pending", 1)
        due = datetime.fromisoformat(target["next_at"])
        assert abs(due - datetime.fromisoformat(call["ended_at"]) - RETRY) < timedelta(seconds=5)

    # each answered patient confirmed; the unreached are still scheduled
    for patient, phone, mode in PATIENTS:
        (appointment,) = world.query(
            "SELECT a.status FROM appointments a JOIN patients p ON p.id = a.patient_id "
            "WHERE p.phone = ?",
            phone,
        )
        expected = "confirmed" if mode == "answer" else "scheduled"
        assert appointment["status"] == expected, world.conversation(lines[phone], patient=patient)

    # the summary the front desk reads matches what the phones saw
    summary = summary_rows(output)
    answered = sum(1 for _, _, mode in PATIENTS if mode == "answer")
    assert summary["dialed"] == len(PATIENTS), summary
    assert summary["answered"] == answered == sum("answered" in r.names() for r in lines.values())
    assert summary["confirmed"] == answered
    assert summary["busy"] == 1
    assert summary["no answer"] == 1
    assert summary["failed"] == 0


def _settled(world: World, day: date, timeout: float) -> list[Any]:
    """The day's campaign targets once every one has had its first attempt end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        targets = world.query(
            "SELECT t.* FROM campaign_targets t JOIN campaigns k ON k.id = t.campaign_id "
            "WHERE k.day = ? ORDER BY t.id",
            day.isoformat(),
        )
        if len(targets) == len(PATIENTS) and all(
            t["attempts"] == 1 and t["state"] in ("done", "pending") for t in targets
        ):
            return targets
        time.sleep(0.5)
    raise AssertionError(f"the campaign's first attempts did not settle: {world.tail()}")


def _lines_of(worker: Proc, room: str) -> str:
    return "\n".join(line for line in worker.text().splitlines() if f'"room": "{room}"' in line)
