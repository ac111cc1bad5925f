"""Campaigns from the console: started for a day with its options, run in the console's
process, watched to the summary, paused and resumed, and carried on by a console that was
restarted. The far end answers every dial and reports back through the real store."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from console_world import (
    Clock,
    FarEnd,
    console_client,
    csrf_of,
    log_in,
    run,
)
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import dnc_add, record_outcome

DAY = "2026-12-01"  # the demo's first day of appointments
NY = ZoneInfo("America/New_York")
FAST = {"max_in_flight": "4", "rate": "50", "max_attempts": "2", "retry_minutes": "30"}


def _noon() -> Clock:
    clock = Clock()
    clock.advance(timedelta(hours=2))  # noon in New York: inside everyone's calling window
    return clock


def _day_phones(url: str) -> list[str]:
    async def work(store: Store) -> list[str]:
        rows = await store.appointments(day=date.fromisoformat(DAY), status="scheduled", zone=NY)
        return sorted({a.patient_phone for a in rows})

    return run(url, work)


def _until(client: Any, path: str, text: str, within: float = 20.0) -> str:
    deadline = time.monotonic() + within
    while True:
        page = client.get(path).text
        if text in page:
            return page
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never showed on {path}:\n{page}")
        time.sleep(0.05)


def _summary(page: str) -> dict[str, int]:
    body = page.split('<table id="summary">', 1)[1].split("</table>", 1)[0]
    return {k: int(v) for k, v in re.findall(r"<th>(.*?)</th><td>(\d+)</td>", body)}


def test_a_campaign_started_from_the_console_calls_each_patient_once_to_the_summary(
    url: str,
) -> None:
    phones = _day_phones(url)
    assert len(phones) >= 3
    blocked = phones[0]

    async def block(store: Store) -> None:
        await dnc_add(store, blocked, reason="asked", by="test", at=store.now())

    run(url, block)
    far_end = FarEnd()
    with console_client(url, _noon(), far_end) as client:
        log_in(client, "sam")
        started = client.post("/campaigns", data={"csrf": csrf_of(client), "date": DAY, **FAST})
        assert started.status_code == 303
        path = started.headers["location"]
        page = _until(client, path, "<strong>done</strong>")
        listing = client.get("/campaigns").text
    assert sorted(m.phone_number for m in far_end.dials) == phones[1:]
    summary = _summary(page)
    assert summary["dialed"] == len(phones) - 1
    assert summary["answered"] == len(phones) - 1
    assert summary["skipped: do-not-call"] == 1
    assert f"{len(phones)} of {len(phones)} finished" in page
    assert "http-equiv" not in page  # done: no more refreshing
    assert f"appointments {DAY}" in listing

    async def kept(store: Store) -> db.Campaign | None:
        async with store.read() as s:
            return await s.scalar(select(db.Campaign))

    campaign = run(url, kept)
    assert campaign is not None
    assert (campaign.max_in_flight, campaign.calls_per_second) == (4, 50.0)
    assert (campaign.max_attempts, campaign.retry_minutes) == (2, 30)


def test_bad_campaign_options_are_shown_and_nothing_is_started(url: str) -> None:
    far_end = FarEnd()
    with console_client(url, _noon(), far_end) as client:
        log_in(client, "sam")
        csrf = csrf_of(client)
        bad = client.post(
            "/campaigns",
            data={"csrf": csrf, "date": DAY, **FAST, "max_in_flight": "0", "rate": "fast"},
        )
        assert bad.status_code == 400
        assert "Calls at once: give a whole number from 1 to 100" in bad.text
        assert "New calls per second: &#39;fast&#39; is not a number" in bad.text
        assert 'value="fast"' in bad.text  # what was typed is kept
        empty = client.post("/campaigns", data={"csrf": csrf, "date": "2026-11-29", **FAST})
        assert "Nothing to call on 2026-11-29" in empty.text
    assert far_end.dials == []


def _end_calls_on_the_phone(url: str) -> int:
    """The calls still on the phone end (answered), reported as the worker reports them."""

    async def work(store: Store) -> int:
        async with store.read() as s:
            calls = (await s.scalars(select(db.Call).where(db.Call.status == "dialing"))).all()
        for call in calls:
            now = store.now()
            record = CallRecord(started_at=now, status=CallStatus.ANSWERED, answered_at=now)
            record.ended_at = now
            await record_outcome(
                store,
                room=call.room,
                phone=call.phone,
                appointment_id=call.appointment_id,
                record=record,
            )
        return len(calls)

    return run(url, work)


def test_pause_stops_new_calls_and_resume_carries_on(url: str) -> None:
    phones = _day_phones(url)
    far_end = FarEnd(ending=False)  # calls stay on the phone until the test ends them
    with console_client(url, _noon(), far_end) as client:
        log_in(client, "sam")
        csrf = csrf_of(client)
        options = {**FAST, "max_in_flight": "1"}
        path = client.post("/campaigns", data={"csrf": csrf, "date": DAY, **options}).headers[
            "location"
        ]
        _until(client, path, "1 on the phone")
        assert client.post(f"{path}/pause", data={"csrf": csrf}).status_code == 303
        page = client.get(path).text
        assert "<strong>paused</strong>" in page
        assert "Resume</button>" in page
        assert "http-equiv" not in page
        # the call on the phone still reports back; its runner is gone, so nobody new is
        # called while the campaign is paused
        assert _end_calls_on_the_phone(url) == 1
        assert len(far_end.dials) == 1
        assert "<strong>paused</strong>" in client.get(path).text
        far_end.ending = True
        assert client.post(f"{path}/resume", data={"csrf": csrf}).status_code == 303
        page = _until(client, path, "<strong>done</strong>")
    assert sorted(m.phone_number for m in far_end.dials) == phones
    assert _summary(page)["answered"] == len(phones)


def test_a_restarted_console_carries_on_with_the_campaign_it_was_running(url: str) -> None:
    phones = _day_phones(url)
    first = FarEnd(ending=False)
    with console_client(url, _noon(), first) as client:
        log_in(client, "sam")
        options = {**FAST, "max_in_flight": "1"}
        path = client.post(
            "/campaigns", data={"csrf": csrf_of(client), "date": DAY, **options}
        ).headers["location"]
        _until(client, path, "1 on the phone")
    # the console stopped with one call on the phone; that call ends while it is down
    assert _end_calls_on_the_phone(url) == 1
    second = FarEnd()
    with console_client(url, _noon(), second) as client:
        log_in(client, "sam")
        page = _until(client, path, "<strong>done</strong>")
    assert len(first.dials) == 1
    assert sorted(m.phone_number for m in first.dials + second.dials) == phones
    assert _summary(page)["dialed"] == len(phones)
