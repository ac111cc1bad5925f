"""What the front desk sees and does on each page, and what it changes in the store."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from console_world import START, Clock, console_client, csrf_of, log_in, run
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.audit import audit_entries
from outbound_caller.store.calls import dnc_add, dnc_list, record_outcome, record_placed
from outbound_caller.store.practices import load_spec

JANE = "+14155550123"
AISHA = "+12125550187"


def _appointment_of(url: str, phone: str) -> int:
    async def work(store: Store) -> int:
        async with store.read() as s:
            found = await s.scalar(
                select(func.min(db.Appointment.id))
                .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
                .where(db.Patient.phone == phone)
            )
        assert found is not None
        return int(found)

    return run(url, work)


def _calls(url: str) -> int:
    """Jane's call at 09:05 confirmed her appointment and left a message; Aisha's at 09:40
    went to voicemail; a third, at 09:50, is still on the phone."""
    jane_appt = _appointment_of(url, JANE)

    async def work(store: Store) -> None:
        for minutes, room, phone, appt in (
            (5, "r-jane", JANE, jane_appt),
            (40, "r-aisha", AISHA, None),
            (50, "r-tom", "+16175550111", None),
        ):
            await record_placed(
                store,
                room=room,
                phone=phone,
                placed_at=START - timedelta(minutes=60 - minutes),
                appointment_id=appt,
                dispatch_id=f"AD_{room}",
            )
        placed = START - timedelta(minutes=55)
        jane = CallRecord(started_at=placed, status=CallStatus.ANSWERED, answered_at=placed)
        jane.ended_at = placed + timedelta(seconds=75)
        jane.hangup_reason = "completed"
        jane.changes = [f"confirmed {jane_appt}"]
        jane.office_messages = ["running ten minutes late"]
        await store.confirm(jane_appt, by="r-jane")
        await record_outcome(
            store, room="r-jane", phone=JANE, appointment_id=jane_appt, record=jane
        )
        aisha = CallRecord(started_at=placed, status=CallStatus.VOICEMAIL, ended_at=placed)
        await record_outcome(store, room="r-aisha", phone=AISHA, appointment_id=None, record=aisha)

    run(url, work)
    return jane_appt


def _rows(html: str, table: str) -> list[list[str]]:
    body = html.split(f'<table id="{table}">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", r, re.S) for r in rows]
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in row] for row in cells if row]


def test_today_shows_the_days_calls_newest_first_with_what_the_office_must_do(url: str) -> None:
    appt = _calls(url)
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        page = client.get("/today")
    rows = _rows(page.text, "calls")
    assert rows[0] == [
        "Placed", "Patient", "Phone", "Appointment", "Outcome", "Ended by", "What changed",
        "For the office",
    ]  # fmt: skip
    assert [(r[0], r[1], r[2], r[4]) for r in rows[1:]] == [
        ("09:50", "Tom Becker", "***0111", "dialing"),
        ("09:40", "Aisha Khan", "***0187", "voicemail"),
        ("09:05", "Jane Doe", "***0123", "answered"),
    ]
    assert rows[3][3] == f"#{appt}"
    assert rows[3][6] == f"confirmed {appt}"
    assert rows[3][7] == "message: running ten minutes late"
    # a call is on the phone: the page keeps itself up to date
    assert '<meta http-equiv="refresh" content="5">' in page.text
    assert JANE not in page.text  # numbers are masked on the page


def test_today_filters_by_outcome_and_day_and_exports_csv(url: str) -> None:
    _calls(url)
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        voicemail = _rows(client.get("/today?outcome=voicemail").text, "calls")
        assert [r[1] for r in voicemail[1:]] == ["Aisha Khan"]
        other_day = client.get("/today?date=2026-11-29").text
        assert "No calls on this day." in other_day
        assert "http-equiv" not in other_day
        exported = client.get("/today.csv?date=2026-11-30")
    assert exported.headers["content-disposition"] == 'attachment; filename="calls-2026-11-30.csv"'
    lines = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["patient"], r["phone"], r["outcome"]) for r in lines] == [
        # whole numbers, kept from running as a formula in a spreadsheet
        ("Tom Becker", "'+16175550111", "dialing"),
        ("Aisha Khan", "'" + AISHA, "voicemail"),
        ("Jane Doe", "'" + JANE, "answered"),
    ]
    what = [e.what for e in run(url, audit_entries)]
    assert "calls on 2026-11-30 (CSV)" in what
    assert "calls on 2026-11-29" in what


def test_appointments_list_the_fortnight_and_each_shows_its_calls_and_history(url: str) -> None:
    appt = _calls(url)
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        listing = _rows(client.get("/appointments").text, "appointments")
        detail = client.get(f"/appointments/{appt}")
        missing = client.get("/appointments/99999")
    fortnight = [
        a
        for a in run(url, lambda s: s.appointments())
        if a.start < START.replace(hour=5) + timedelta(days=14)  # midnight in New York
    ]
    assert [(r[0], r[2], r[5]) for r in listing[1:]] == [
        (f"#{a.id}", a.patient_name, a.status) for a in fortnight
    ]
    assert len(fortnight) > 20
    assert (f"#{appt}", "Jane Doe", "confirmed") in [(r[0], r[2], r[5]) for r in listing]
    assert JANE in detail.text  # the one page that shows the whole number
    assert _rows(detail.text, "calls")[1][1:4] == ["answered", "completed", f"confirmed {appt}"]
    history = _rows(detail.text, "history")
    when = run(url, lambda s: s.appointment(appt)).start.astimezone(ZoneInfo("America/New_York"))
    assert [(h[1], h[2], h[3], h[4]) for h in history[1:]] == [
        ("confirmed", f"scheduled {when:%b %-d %H:%M}", f"confirmed {when:%b %-d %H:%M}", "r-jane")
    ]
    assert missing.status_code == 404
    assert f"appointment {appt}" in [e.what for e in run(url, audit_entries)]


def test_the_do_not_call_list_adds_searches_and_removes(url: str) -> None:
    with console_client(url, Clock()) as client:
        log_in(client, "sam")
        csrf = csrf_of(client)
        added = client.post(
            "/do-not-call", data={"csrf": csrf, "phone": "(415) 555-0164", "reason": "asked"}
        )
        assert "+14155550164 will not be called." in added.text
        again = client.post("/do-not-call", data={"csrf": csrf, "phone": "+14155550164"})
        assert "was on the list already" in again.text
        bad = client.post("/do-not-call", data={"csrf": csrf, "phone": "555"})
        assert bad.status_code == 400
        assert "Not added:" in bad.text
        assert [r[0] for r in _rows(client.get("/do-not-call?q=0164").text, "dnc")[1:]] == [
            "+14155550164"
        ]
        assert "No numbers match 9999." in client.get("/do-not-call?q=9999").text
    rows = run(url, dnc_list)
    assert [(r.phone, r.reason, r.added_by) for r in rows] == [("+14155550164", "asked", "sam")]
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        removed = client.post(
            "/do-not-call/remove", data={"csrf": csrf_of(client), "phone": "+14155550164"}
        )
        assert "+14155550164 may be called again." in removed.text
    assert run(url, dnc_list) == []
    audit = [e.what for e in run(url, audit_entries)]
    assert "do-not-call add ***0164" in audit
    assert "do-not-call remove ***0164" in audit


def _patients(url: str) -> int:
    async def work(store: Store) -> int:
        async with store.read() as s:
            return int(await s.scalar(select(func.count()).select_from(db.Patient)) or 0)

    return run(url, work)


def test_an_import_with_bad_lines_shows_each_by_number_and_imports_nothing(url: str) -> None:
    before = _patients(url)
    bad = "name,phone\nZoe Quinn,+14155550001\nNo Number,\nYan Ho,12\n"
    good = "name,phone\nZoe Quinn,+14155550001\nYan Ho,+14155550002\n"
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        csrf = csrf_of(client)
        refused = client.post(
            "/import", data={"csrf": csrf}, files={"file": ("patients.csv", bad, "text/csv")}
        )
        assert refused.status_code == 400
        problems = re.findall(r"<li>(.*?)</li>", refused.text.split('id="problems"')[1])
        assert [p.split(":")[0] for p in problems] == ["line 3", "line 4"]
        assert "Nothing was imported from patients.csv" in refused.text
        assert _patients(url) == before
        done = client.post(
            "/import", data={"csrf": csrf}, files={"file": ("patients.csv", good, "text/csv")}
        )
        assert done.status_code == 200
        assert "2 patients row(s): 2 added, 0 updated, 0 unchanged" in done.text
        assert "Choose a CSV file." in client.post("/import", data={"csrf": csrf}).text
    assert _patients(url) == before + 2


def test_an_admin_changes_the_practice_from_its_file_and_a_bad_file_changes_nothing(
    url: str,
) -> None:
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        page = client.get("/practice")
        text = re.search(r'<textarea name="spec"[^>]*>(.*?)</textarea>', page.text, re.S)
        assert text is not None
        yaml_text = text.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&")
        assert _rows(page.text, "hours")[0] == ["Monday", "08:00-12:00, 13:00-18:00"]
        csrf = csrf_of(client, "/practice")
        broken = client.post(
            "/practice",
            data={"csrf": csrf, "spec": yaml_text.replace("08:00-12:00", "12:00-08:00", 1)},
        )
        assert broken.status_code == 400
        assert re.search(r"<li>line \d+: practice\.hours\.monday", broken.text)
        assert run(url, load_spec).practice.hours["monday"][0][0].hour == 8
        same = client.post("/practice", data={"csrf": csrf, "spec": yaml_text})
        assert "Nothing changed." in same.text
        changed = client.post(
            "/practice",
            data={"csrf": csrf, "spec": yaml_text.replace("08:00-12:00", "09:00-12:00", 1)},
        )
        assert "The practice is updated." in changed.text
    assert run(url, load_spec).practice.hours["monday"][0][0].hour == 9
    assert "practice set-up" in [e.what for e in run(url, audit_entries)]


def test_admins_see_users_webhook_deliveries_and_the_audit_log_without_whole_numbers(
    url: str,
) -> None:
    _calls(url)

    async def block(store: Store) -> None:
        await dnc_add(store, JANE, reason="", by="cli", at=START)

    run(url, block)
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        client.get("/today")
        users = _rows(client.get("/users").text, "users")
        hooks = client.get("/webhooks").text
        audit = _rows(client.get("/audit").text, "audit")
    assert [r[:2] for r in users[1:]] == [["ann", "admin"], ["sam", "staff"]]
    assert "No events yet" in hooks
    # a call that reports back queues its event: the page shows it waiting

    async def report(store: Store) -> None:
        record = CallRecord(started_at=START, status=CallStatus.NO_ANSWER, ended_at=START)
        await record_outcome(
            store, room="r-new", phone=AISHA, appointment_id=None, record=record, webhook=True
        )

    run(url, report)
    with console_client(url, Clock()) as client:
        log_in(client, "ann")
        events = _rows(client.get("/webhooks").text, "events")
    assert [(e[1], e[4], e[5]) for e in events[1:]] == [("call.ended", "0", "waiting")]
    assert audit[1][1:] == ["ann", "viewed", "calls on 2026-11-30", "testclient"]
    assert audit[2][1:] == ["ann", "login", "log-in", "testclient"]
    for entry in run(url, audit_entries):
        assert "555" not in entry.what
        assert "Jane" not in entry.what
