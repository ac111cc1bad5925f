"""`outbound-caller campaign run` end to end: real dispatches to the Twirp stand-in, and a
stand-in agent that reports each call's outcome to the store as the worker does."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from livekit import api
from typer.testing import CliRunner

from livekit_stub import Fail, LiveKitStub, worker_took_it
from outbound_caller.cli.main import app
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome


def zone_at_noon() -> str:
    """A fixed-offset zone where it is about midday now, so the window is open whenever
    the test runs."""
    hour = datetime.now(UTC).hour
    offset = 12 - hour  # local = UTC + offset
    offset = (offset + 12) % 24 - 12
    return "Etc/GMT" + (f"{-offset:+d}" if offset else "")


def record_for(outcome: str, now: datetime) -> CallRecord:
    """What the agent reports: an outcome, or "confirmed" / "rescheduled" / "transferred"
    for an answered call that did that."""
    record = CallRecord(started_at=now, ended_at=now, answered_at=now)
    if outcome == "confirmed":
        record.changes.append("confirmed 2026-12-01T14:30:00-05:00")
    elif outcome == "rescheduled":
        record.changes.append("rescheduled 2026-12-01T14:30:00-05:00 -> 2026-12-04T08:00:00-05:00")
    elif outcome == "transferred":
        record.transferred, record.hangup_reason = True, "transferred"
    record.status = CallStatus(outcome) if outcome in set(CallStatus) else CallStatus.ANSWERED
    return record


def answering_agent(db_path: Path, statuses: dict[str, str]):
    """CreateDispatch behaviour: accept, then report the call's outcome shortly after."""
    stores: dict[str, Store] = {}

    async def report(room: str, phone: str) -> None:
        await asyncio.sleep(0.05)
        store = stores.setdefault(
            "s", Store(f"sqlite+aiosqlite:///{db_path}", now=lambda: datetime.now(UTC))
        )
        now = datetime.now(UTC)
        await record_outcome(
            store,
            room=room,
            phone=phone,
            appointment_id=None,
            record=record_for(statuses.get(phone, "answered"), now),
        )

    def accept(request: api.CreateAgentDispatchRequest) -> api.AgentDispatch:
        phone = json.loads(request.metadata)["phone_number"]
        asyncio.get_running_loop().create_task(report(request.room, phone))
        return api.AgentDispatch(id=f"AD_{request.room}", room=request.room)

    return accept


def seeded_with_people(tmp_path: Path, *phones: str) -> CliRunner:
    """The demo practice seeded, and people.csv listing ``phones`` in a zone where it is
    about midday now."""
    runner = CliRunner()
    assert runner.invoke(app, ["db", "seed-demo"]).exit_code == 0
    zone = zone_at_noon()
    names = ["Ann", "Bo", "Cy", "Di", "Ed"]
    (tmp_path / "people.csv").write_text(
        "phone,name,timezone\n" + "".join(f"{p},{names[i]},{zone}\n" for i, p in enumerate(phones))
    )
    return runner


def summary_numbers(out: str) -> dict[str, int]:
    """The summary table's rows, label to number."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if len(cells) == 2 and cells[1].isdigit():
            rows[cells[0]] = int(cells[1])
    return rows


def test_campaign_over_a_csv_dials_everyone_once_and_prints_a_summary(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002", "+14155553003")
    operator.behaviour["CreateDispatch"] = answering_agent(
        tmp_path / "outbound-caller.db", {"+14155553002": "declined"}
    )
    result = runner.invoke(
        app, ["campaign", "run", "--csv", "people.csv", "--rate", "20", "--max-in-flight", "2"]
    )
    assert result.exit_code == 0, result.output
    dispatches = operator.calls("CreateDispatch")
    assert sorted(json.loads(d.metadata)["phone_number"] for d in dispatches) == [
        "+14155553001",
        "+14155553002",
        "+14155553003",
    ]
    assert all(d.agent_name == "outbound-caller" for d in dispatches)
    out = result.output
    assert "Campaign summary" in out
    numbers = summary_numbers(out)
    assert numbers["dialed"] == 3
    assert numbers["answered"] == 2
    assert numbers["declined"] == 1
    assert numbers["no answer"] == numbers["busy"] == numbers["failed"] == 0


def test_a_campaign_of_one_says_one_person(operator: LiveKitStub, tmp_path: Path) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001")
    operator.behaviour["CreateDispatch"] = answering_agent(tmp_path / "outbound-caller.db", {})
    result = runner.invoke(app, ["campaign", "run", "--csv", "people.csv"])
    assert result.exit_code == 0, result.output
    assert "campaign 1: 1 person (resume with --resume 1)" in result.output


def test_the_summary_counts_what_the_answered_calls_did(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    phones = ["+14155553001", "+14155553002", "+14155553003", "+14155553004"]
    runner = seeded_with_people(tmp_path, *phones)
    operator.behaviour["CreateDispatch"] = answering_agent(
        tmp_path / "outbound-caller.db",
        dict(zip(phones, ["confirmed", "rescheduled", "transferred", "voicemail"], strict=True)),
    )
    result = runner.invoke(app, ["campaign", "run", "--csv", "people.csv", "--rate", "20"])
    assert result.exit_code == 0, result.output
    numbers = summary_numbers(result.output)
    assert (numbers["dialed"], numbers["answered"], numbers["voicemail"]) == (4, 3, 1)
    assert (numbers["confirmed"], numbers["rescheduled"], numbers["transferred"]) == (1, 1, 1)


def test_a_dispatch_livekit_refuses_fails_that_call_and_the_campaign_goes_on(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002")
    answer = answering_agent(tmp_path / "outbound-caller.db", {})

    def refuse_ann(request: api.CreateAgentDispatchRequest) -> api.AgentDispatch | Fail:
        if json.loads(request.metadata)["phone_number"] == "+14155553001":
            return Fail("unavailable", "no agent workers available", 503)
        return answer(request)

    operator.behaviour["CreateDispatch"] = refuse_ann
    result = runner.invoke(
        app,
        ["campaign", "run", "--csv", "people.csv", "--rate", "20", "--max-attempts", "1"],
    )
    assert result.exit_code == 0, result.output
    assert len(operator.calls("CreateDispatch")) == 2
    numbers = summary_numbers(result.output)
    assert (numbers["dialed"], numbers["failed"], numbers["answered"]) == (2, 1, 1)
    calls = runner.invoke(app, ["calls", "list"]).output
    assert "dialing" not in calls
    assert "Traceback" not in result.output


def test_rejected_credentials_stop_the_campaign_and_resume_calls_everyone(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002")
    operator.behaviour["CreateDispatch"] = Fail("unauthenticated", "invalid API key", 401)
    result = runner.invoke(
        app, ["campaign", "run", "--csv", "people.csv", "--rate", "20", "--max-in-flight", "1"]
    )
    assert result.exit_code == 1, result.output
    assert len(operator.calls("CreateDispatch")) == 1  # not one failure per patient
    assert "LiveKit rejected the credentials" in result.output
    assert "Traceback" not in result.output
    listed = runner.invoke(app, ["calls", "list"]).output
    assert "not_dispatched" in listed
    assert "dialing" not in listed  # settled now, not after a grace period on resume

    operator.behaviour["CreateDispatch"] = answering_agent(tmp_path / "outbound-caller.db", {})
    result = runner.invoke(app, ["campaign", "run", "--resume", "1", "--rate", "20"])
    assert result.exit_code == 0, result.output
    phones = [json.loads(d.metadata)["phone_number"] for d in operator.calls("CreateDispatch")]
    assert sorted(phones[1:]) == ["+14155553001", "+14155553002"]
    numbers = summary_numbers(result.output)
    assert (numbers["dialed"], numbers["answered"]) == (2, 2)  # the refused claim rang nobody


def test_a_trunk_that_refuses_calls_stops_the_campaign_with_exit_code_1(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002")
    operator.behaviour["CreateDispatch"] = answering_agent(
        tmp_path / "outbound-caller.db", {"+14155553001": "trunk_failed"}
    )
    result = runner.invoke(
        app, ["campaign", "run", "--csv", "people.csv", "--rate", "20", "--max-in-flight", "1"]
    )
    assert result.exit_code == 1, result.output
    assert len(operator.calls("CreateDispatch")) == 1
    assert "campaign stopped: the SIP trunk refused a call" in result.output
    assert "--resume 1" in result.output
    assert "Traceback" not in result.output


def test_a_resumed_campaign_keeps_its_options_and_one_given_again_replaces_its_own(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002", "+14155553003")
    operator.behaviour["CreateDispatch"] = answering_agent(
        tmp_path / "outbound-caller.db", {"+14155553001": "trunk_failed"}
    )
    started = ["campaign", "run", "--csv", "people.csv", "--rate", "20", "--max-in-flight", "1"]
    options = ["--max-attempts", "2", "--retry-minutes", "45", "--retry-voicemail"]
    result = runner.invoke(app, started + options)
    assert result.exit_code == 1, result.output  # the trunk stopped it after one call
    own = (
        "campaign 1 calls 1 at once, 20/s, up to 2 calls each, again after 45 min, "
        "voicemail retried"
    )
    assert own in result.output

    operator.behaviour["CreateDispatch"] = Fail("unauthenticated", "invalid API key", 401)
    resumed = runner.invoke(app, ["campaign", "run", "--resume", "1"])
    assert resumed.exit_code == 1, resumed.output
    assert own in resumed.output  # not the defaults (2 at once, 1 a second, 3 calls, 120 min)

    changed = runner.invoke(app, ["campaign", "run", "--resume", "1", "--max-in-flight", "3"])
    assert changed.exit_code == 1, changed.output
    assert "campaign 1 calls 3 at once, 20/s, up to 2 calls" in changed.output
    again = runner.invoke(app, ["campaign", "run", "--resume", "1", "--no-retry-voicemail"])
    assert "campaign 1 calls 3 at once, 20/s" in again.output
    assert "again after 45 min, voicemail not retried" in again.output
    assert "Traceback" not in again.output


def test_a_new_campaign_says_it_calls_with_the_defaults_and_an_unknown_one_is_refused(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = seeded_with_people(tmp_path, "+14155553001")
    operator.behaviour["CreateDispatch"] = answering_agent(tmp_path / "outbound-caller.db", {})
    result = runner.invoke(app, ["campaign", "run", "--csv", "people.csv"])
    assert result.exit_code == 0, result.output
    assert (
        "campaign 1 calls 2 at once, 1/s, up to 3 calls each, again after 120 min, "
        "voicemail not retried"
    ) in result.output
    missing = runner.invoke(app, ["campaign", "run", "--resume", "7"])
    assert missing.exit_code == 1, missing.output
    assert "no campaign 7" in missing.output
    assert "Traceback" not in missing.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --date, --csv or --resume"),
        (["--date", "soon"], "is not a date"),
        (["--date", "2026-12-01", "--resume", "1"], "give exactly one of"),
    ],
)
def test_campaign_run_refuses_bad_options(
    operator: LiveKitStub, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["campaign", "run", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert operator.requests == []


def test_bad_csv_rows_are_listed_and_nothing_is_dialed(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "seed-demo"])
    (tmp_path / "people.csv").write_text(
        "phone,name,timezone\n555,Ann Lee,\n+14155553001,Bo Chen,Mars/X\n"
        "+14155553002,Cy Diaz,America\n+14155553003,=HYPERLINK(1),\n"
    )
    result = runner.invoke(app, ["campaign", "run", "--csv", "people.csv"])
    assert result.exit_code == 2
    assert "line 2: phone" in result.output
    assert "line 3: timezone 'Mars/X' is not a known time zone" in result.output
    # a tzdata folder is a bad zone like any other, not an IsADirectoryError traceback
    assert "line 4: timezone 'America' is not a known time zone" in result.output
    assert "line 5: name must start with a letter" in result.output
    assert "Traceback" not in result.output
    assert operator.calls("CreateDispatch") == []


def test_a_campaign_csv_follows_the_import_rule_for_columns(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "seed-demo"])
    (tmp_path / "people.csv").write_text("phone,name,time_zone\n+14155553001,Bo Chen,UTC\n")
    result = runner.invoke(app, ["campaign", "run", "--csv", "people.csv"])
    assert result.exit_code == 2
    assert "people.csv: line 1: unknown column 'time_zone'" in result.output
    assert operator.calls("CreateDispatch") == []


def test_the_calling_window_is_a_practice_setting(operator: LiveKitStub) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "seed-demo"])
    shown = runner.invoke(app, ["campaign", "window"])
    assert shown.output.strip() == "calling window 08:00-21:00 patient time; not on closed days"
    changed = runner.invoke(
        app, ["campaign", "window", "--start", "09:30", "--end", "19:00", "--call-on-closed-days"]
    )
    assert changed.output.strip() == "calling window 09:30-19:00 patient time; also on closed days"
    refused = runner.invoke(app, ["campaign", "window", "--start", "20:00"])
    assert refused.exit_code == 1
    assert "would end before it starts" in refused.output
    assert runner.invoke(app, ["campaign", "window"]).output.startswith(
        "calling window 09:30-19:00"
    )
    bad = runner.invoke(app, ["campaign", "window", "--end", "9pm"])
    assert bad.exit_code == 2


# -- a campaign an office runs every day ----------------------------------------------------

NOON_NY = datetime(2026, 12, 1, 17, tzinfo=UTC)  # 9:00 in Los Angeles, 17:00 in London


@pytest.fixture
def demo_day(operator: LiveKitStub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The demo practice seeded on 2026-12-01, a clock that starts at noon in New York (and
    runs: the rate limit waits on it), and an agent that answers every call."""
    import time as clock

    from outbound_caller.cli import campaign, main

    started = clock.monotonic()

    def now() -> datetime:
        return NOON_NY + timedelta(seconds=clock.monotonic() - started)

    monkeypatch.setattr(main, "utc_now", now)
    monkeypatch.setattr(campaign, "utc_now", now)
    runner = CliRunner()
    assert runner.invoke(app, ["db", "seed-demo"]).exit_code == 0
    operator.behaviour["CreateDispatch"] = answering_agent(tmp_path / "outbound-caller.db", {})
    return runner


def tomorrows_numbers(tmp_path: Path) -> set[str]:
    async def work() -> set[str]:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'outbound-caller.db'}", now=lambda: NOON_NY)
        try:
            rows = await store.appointments(
                day=datetime(2026, 12, 2).date(),
                status="scheduled",
                zone=ZoneInfo("America/New_York"),
            )
            return {r.patient_phone for r in rows}
        finally:
            await store.close()

    return asyncio.run(work())


def test_tomorrows_campaign_calls_each_number_once_and_a_second_run_calls_nobody(
    demo_day: CliRunner, operator: LiveKitStub, tmp_path: Path
) -> None:
    args = ["campaign", "run", "--date", "tomorrow", "--rate", "50", "--max-in-flight", "4"]
    first = demo_day.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "campaign 1: " in first.output
    assert "unconfirmed appointment(s) on 2026-12-02" in first.output
    dialed = [json.loads(d.metadata)["phone_number"] for d in operator.calls("CreateDispatch")]
    assert sorted(dialed) == sorted(tomorrows_numbers(tmp_path))
    assert summary_numbers(first.output)["dialed"] == len(dialed)

    again = demo_day.invoke(app, args)  # the timer fired twice, or someone ran it by hand
    assert again.exit_code == 0, again.output
    assert "campaign 1 for 2026-12-02 is there already: carrying on with it" in again.output
    assert len(operator.calls("CreateDispatch")) == len(dialed)

    listed = demo_day.invoke(app, ["campaign", "list"])
    [line] = [row for row in listed.output.splitlines() if row.split()[:2] == ["1", "appointments"]]
    assert "appointments 2026-12-02" in line
    assert line.rstrip().endswith(f"done      {len(dialed)} of {len(dialed)} finished")


def test_a_day_with_nothing_to_call_creates_no_campaign(
    demo_day: CliRunner, operator: LiveKitStub
) -> None:
    result = demo_day.invoke(app, ["campaign", "run", "--date", "2026-11-29"])
    assert result.exit_code == 0, result.output
    assert "nothing to call on 2026-11-29: no unconfirmed appointments" in result.output
    assert operator.calls("CreateDispatch") == []
    assert demo_day.invoke(app, ["campaign", "list"]).output.splitlines()[-1] == "0 campaign(s)"


def test_without_a_worker_the_first_call_is_withdrawn_and_the_run_stops(
    demo_day: CliRunner, operator: LiveKitStub
) -> None:
    from livekit_stub import nobody_took_it

    operator.behaviour["ListDispatch"] = nobody_took_it
    answering = operator.behaviour["CreateDispatch"]
    operator.behaviour["CreateDispatch"] = lambda req: api.AgentDispatch(id="AD_1", room=req.room)
    result = demo_day.invoke(
        app, ["campaign", "run", "--date", "tomorrow", "--worker-wait", "0", "--rate", "50"]
    )
    assert result.exit_code == 1
    assert (
        "no worker took the first call within 0 s, so nobody was called: start one "
        "(python agent.py start) on the same LiveKit project, then carry on with --resume 1"
    ) in " ".join(result.output.split())
    [dispatch] = operator.calls("CreateDispatch")
    # withdrawn: a worker that starts later must not ring the patient out of the blue
    assert [r.room for r in operator.calls("DeleteRoom")] == [dispatch.room]
    calls = demo_day.invoke(app, ["calls", "list", "--json"])
    assert [json.loads(line)["outcome"] for line in calls.output.splitlines()] == ["not_dispatched"]
    status = demo_day.invoke(app, ["campaign", "status", "1"])
    assert status.exit_code == 0, status.output
    assert "campaign 1 (appointments 2026-12-02): running, 0 of" in status.output
    assert "to be called next" in status.output  # the withdrawn one is not an attempt

    # a worker is up: the campaign carries on and calls everyone, the first one included
    operator.behaviour["ListDispatch"] = worker_took_it
    operator.behaviour["CreateDispatch"] = answering
    resumed = demo_day.invoke(app, ["campaign", "run", "--resume", "1", "--rate", "50"])
    assert resumed.exit_code == 0, resumed.output
    phones = [json.loads(d.metadata)["phone_number"] for d in operator.calls("CreateDispatch")]
    assert phones.count(json.loads(dispatch.metadata)["phone_number"]) == 2
    assert len(set(phones)) == len(phones) - 1


def test_ctrl_c_prints_the_summary_so_far_and_how_to_carry_on(
    operator: LiveKitStub, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time as clock

    runner = seeded_with_people(tmp_path, "+14155553001", "+14155553002")
    # dispatches are accepted, and no call ever reports back: the run is waiting when ^C comes
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("outbound-caller")),
            "campaign",
            "run",
            "--csv",
            "people.csv",
            "--max-in-flight",
            "1",
        ],
        cwd=tmp_path,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = clock.monotonic() + 60
        while not operator.calls("ListDispatch") and clock.monotonic() < deadline:
            clock.sleep(0.05)
        assert operator.calls("ListDispatch"), "the campaign never dialed"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert summary_numbers(out)["dialed"] == 1
    assert err.rstrip().endswith("carry on with: outbound-caller campaign run --resume 1"), err
    assert runner.invoke(app, ["campaign", "list"]).output.count("running") == 1
