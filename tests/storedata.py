"""A small practice with known hours, written straight into a store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from conftest import NY
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store

WEEK = range(7)
HOURS = [(time(8), time(12)), (time(13), time(17))]
NIGHT = [(time(0), time(4))]  # Sunday night hours, to cross the daylight-saving changes


@dataclass
class Ids:
    practice: int
    rivera: int
    chen: int
    checkup: int
    filling: int
    jane: int
    john: int
    jane_appt: int
    john_appt: int


async def make_practice(store: Store) -> Ids:
    async with store.transaction() as s:
        p = db.Practice(
            name="Bright Smile Dental", timezone="America/New_York", callback_number="+14155550100"
        )
        s.add(p)
        await s.flush()
        for d in WEEK:
            for opens, closes in NIGHT if d == 6 else HOURS:
                s.add(db.OpeningHours(practice_id=p.id, weekday=d, opens=opens, closes=closes))
        s.add(
            db.ClosedDate(practice_id=p.id, day=datetime(2026, 12, 25).date(), reason="Christmas")
        )
        rivera = db.Provider(practice_id=p.id, name="Dr. Rivera", role="dentist")
        chen = db.Provider(practice_id=p.id, name="Dr. Chen", role="dentist")
        s.add_all([rivera, chen])
        await s.flush()
        for d in WEEK:
            for starts, ends in NIGHT if d == 6 else [(time(8), time(17))]:
                s.add(db.ProviderHours(provider_id=rivera.id, weekday=d, starts=starts, ends=ends))
        for d in (1, 2, 3, 4):
            s.add(db.ProviderHours(provider_id=chen.id, weekday=d, starts=time(10), ends=time(16)))
        checkup = db.AppointmentType(practice_id=p.id, name="Check-up", minutes=30)
        filling = db.AppointmentType(practice_id=p.id, name="Filling", minutes=60)
        jane = db.Patient(
            practice_id=p.id, name="Jane Doe", phone="+14155550123", timezone="America/New_York"
        )
        john = db.Patient(
            practice_id=p.id, name="John Roe", phone="+14155550188", timezone="America/Chicago"
        )
        s.add_all([checkup, filling, jane, john])
        await s.flush()
        s.add_all(  # both dentists do both kinds of visit
            db.ProviderAppointmentType(provider_id=v.id, type_id=t.id)
            for v in (rivera, chen)
            for t in (checkup, filling)
        )
        ja = db.Appointment(
            practice_id=p.id,
            patient_id=jane.id,
            provider_id=rivera.id,
            type_id=checkup.id,
            start_at=datetime(2026, 12, 1, 14, 30, tzinfo=NY),
            end_at=datetime(2026, 12, 1, 15, 0, tzinfo=NY),
        )
        jo = db.Appointment(
            practice_id=p.id,
            patient_id=john.id,
            provider_id=rivera.id,
            type_id=checkup.id,
            start_at=datetime(2026, 12, 3, 9, 0, tzinfo=NY),
            end_at=datetime(2026, 12, 3, 9, 30, tzinfo=NY),
        )
        s.add_all([ja, jo])
        await s.flush()
        return Ids(p.id, rivera.id, chen.id, checkup.id, filling.id, jane.id, john.id, ja.id, jo.id)


async def add_appointment(
    store: Store,
    ids: Ids,
    start: datetime,
    *,
    patient: int | None = None,
    provider: int | None = None,
    status: str = "scheduled",
) -> int:
    """A 30-minute check-up (for Jane with Dr. Chen unless told otherwise); returns its id."""
    async with store.transaction() as s:
        row = db.Appointment(
            practice_id=ids.practice,
            patient_id=patient or ids.jane,
            provider_id=provider or ids.chen,
            type_id=ids.checkup,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            status=status,
        )
        s.add(row)
        await s.flush()
        return row.id


async def add_patients_with_appointments(store: Store, ids: Ids, count: int) -> list[int]:
    """``count`` more patients, each with a check-up on Friday 2026-12-04 at its own time."""
    out = []
    async with store.transaction() as s:
        for i in range(count):
            pt = db.Patient(
                practice_id=ids.practice,
                name=f"Patient {i}",
                phone=f"+1415555{1000 + i:04d}",
                timezone="America/New_York",
            )
            s.add(pt)
            await s.flush()
            start = datetime(2026, 12, 10 + i // 16, 8 + (i % 16) // 2, 30 * (i % 2), tzinfo=NY)
            a = db.Appointment(
                practice_id=ids.practice,
                patient_id=pt.id,
                provider_id=ids.rivera,
                type_id=ids.checkup,
                start_at=start,
                end_at=start + timedelta(minutes=30),
            )
            s.add(a)
            await s.flush()
            out.append(a.id)
    return out
