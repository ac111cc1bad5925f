"""Re-importing the practice's export: what is on file and unchanged is left alone, what
changed is refused unless --update, and --update changes exactly the rows that say so (both
backends)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from conftest import NOW, NY
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.importer import ImportFailed, import_csv
from storedata import make_practice

JANE = "+14155550123"
PATIENTS = "name,phone,timezone,date_of_birth\n"
APPOINTMENTS = "patient_phone,provider,type,start,status,external_id\n"


def now() -> datetime:
    return NOW.astimezone(UTC)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


async def patient(store: Store, phone: str) -> db.Patient:
    async with store.read() as s:
        found = await s.scalar(select(db.Patient).where(db.Patient.phone == phone))
        assert found is not None
        return found


async def test_the_same_patients_again_are_on_file_already_and_nothing_changes(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    f = write(
        tmp_path / "p.csv",
        PATIENTS + f"jane doe,{JANE},America/New_York,\nAda Byron,+14155550901,,1990-12-10\n",
    )
    result = await import_csv(store, f, now=now)
    assert (result.added, result.updated, result.unchanged) == (1, 0, 1)
    assert (await patient(store, JANE)).name == "Jane Doe"  # not renamed without --update
    again = await import_csv(store, f, now=now)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)


async def test_changed_patients_are_refused_without_update_and_changed_with_it(
    store: Store, tmp_path: Path
) -> None:
    await make_practice(store)
    f = write(
        tmp_path / "p.csv",
        PATIENTS
        + f"Jane Doe,{JANE},America/Chicago,1985-03-14\n"  # line 2: moved, birthday added
        + "Johnny Roe,+14155550188,,\n"  # line 3: the number is John Roe's
        + "Ada Byron,+14155550901,,\n",  # line 4: new
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, f, now=now)
    assert failed.value.problems == [
        "line 2: the patient is on file with another timezone or date_of_birth "
        "(--update changes it)",
        "line 3: phone is already on file for another patient (--update renames them)",
    ]
    assert (await patient(store, JANE)).timezone == "America/New_York"

    result = await import_csv(store, f, now=now, update=True)
    assert (result.added, result.updated, result.unchanged) == (1, 2, 0)
    jane = await patient(store, JANE)
    assert (jane.timezone, jane.date_of_birth) == ("America/Chicago", date(1985, 3, 14))
    assert (await patient(store, "+14155550188")).name == "Johnny Roe"


async def test_appointments_are_matched_by_external_id_and_updated_only_when_asked(
    store: Store, tmp_path: Path
) -> None:
    ids = await make_practice(store)
    first = write(
        tmp_path / "a.csv",
        APPOINTMENTS
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T09:00:00-05:00,,PMS-1001\n"
        + f"{JANE},Dr. Rivera,Check-up,2026-12-09T09:00:00-05:00,,PMS-1002\n",
    )
    assert (await import_csv(store, first, now=now)).added == 2
    again = await import_csv(store, first, now=now)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)

    async with store.read() as s:
        by_id = {
            a.external_id: a.id
            for a in await s.scalars(
                select(db.Appointment).where(db.Appointment.external_id.is_not(None))
            )
        }
    nightly = write(
        tmp_path / "b.csv",
        APPOINTMENTS
        # moved half an hour later: overlapping its own old time is no clash
        + f"{JANE},Dr. Rivera,Check-up,2026-12-08T09:15:00-05:00,,PMS-1001\n"
        + f"{JANE},Dr. Rivera,Check-up,2026-12-09T09:00:00-05:00,cancelled,PMS-1002\n"
        + f"{JANE},Dr. Chen,Filling,2026-12-10T10:00:00-05:00,,PMS-1003\n",
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, nightly, now=now)
    assert failed.value.problems == [
        f"line 2: external_id PMS-1001 is on file as appointment {by_id['PMS-1001']} with "
        "other details (--update changes it)",
        f"line 3: external_id PMS-1002 is on file as appointment {by_id['PMS-1002']} with "
        "other details (--update changes it)",
    ]

    result = await import_csv(store, nightly, now=now, update=True)
    assert (result.added, result.updated, result.unchanged) == (1, 2, 0)
    moved = await store.appointment(by_id["PMS-1001"])
    assert moved.start == datetime(2026, 12, 8, 9, 15, tzinfo=NY)
    assert (await store.appointment(by_id["PMS-1002"])).status == "cancelled"
    [created, updated] = await store.history(by_id["PMS-1001"])
    assert (updated.action, updated.by) == ("updated", "import")
    assert (updated.old_start, updated.new_start) == (
        datetime(2026, 12, 8, 9, tzinfo=NY),
        datetime(2026, 12, 8, 9, 15, tzinfo=NY),
    )
    assert created.action == "created"
    # the other rows are untouched
    assert (await store.appointment(ids.jane_appt)).status == "scheduled"


async def test_an_update_onto_someone_elses_time_is_refused(store: Store, tmp_path: Path) -> None:
    ids = await make_practice(store)
    write(
        tmp_path / "a.csv",
        APPOINTMENTS + f"{JANE},Dr. Rivera,Check-up,2026-12-08T09:00:00-05:00,,PMS-1\n",
    )
    await import_csv(store, tmp_path / "a.csv", now=now)
    # John's appointment is Thursday 9:00 with Dr. Rivera
    onto = write(
        tmp_path / "b.csv",
        APPOINTMENTS
        + f"{JANE},Dr. Rivera,Check-up,2026-12-03T09:00:00-05:00,,PMS-1\n"
        + f"{JANE},Dr. Rivera,Check-up,2026-12-03T09:00:00-05:00,,PMS-1\n",
    )
    with pytest.raises(ImportFailed) as failed:
        await import_csv(store, onto, now=now, update=True)
    assert failed.value.problems == [
        f"line 2: overlaps appointment {ids.john_appt} of Dr. Rivera",
        "line 3: external_id repeats line 2",
    ]
