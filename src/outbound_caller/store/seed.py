"""A realistic demo practice: three providers, a fortnight of appointments, patients in
several time zones. Deterministic for a given ``today``."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from . import schema as db
from .appointments import Store
from .availability import intersect, localize

DEMO_ZONE = "America/New_York"
DEMO_PATIENTS = [
    ("Jane Doe", "+14155550123", "America/New_York", date(1985, 3, 14)),
    ("Carlos Mendes", "+13125550142", "America/Chicago", date(1979, 11, 2)),
    ("Aisha Khan", "+12125550187", "America/New_York", date(1992, 6, 21)),
    ("Tom Becker", "+16175550111", "America/New_York", None),
    ("Mei Lin", "+14155550164", "America/Los_Angeles", date(2001, 1, 9)),
    ("Olu Adeyemi", "+442079460123", "Europe/London", date(1988, 8, 30)),
    ("Grace Park", "+17185550190", "America/New_York", date(1965, 4, 5)),
    ("Luis Ortega", "+13055550133", "America/New_York", None),
    ("Hannah Weiss", "+12015550158", "America/New_York", date(1999, 12, 24)),
    ("Raj Patel", "+17735550177", "America/Chicago", date(1974, 2, 17)),
    ("Emma Rossi", "+16465550105", "America/New_York", date(2010, 7, 1)),
    ("Noah Smith", "+13035550148", "America/Denver", date(1983, 9, 12)),
]
PROVIDERS = [
    # name, role, working periods by weekday (Monday is 0)
    (
        "Dr. Maya Rivera",
        "dentist",
        {d: [(time(8), time(12)), (time(13), time(17))] for d in range(5)},
    ),
    ("Dr. Sam Chen", "dentist", {d: [(time(10), time(18))] for d in (1, 2, 3, 4, 5)}),
    ("Alex Kim", "hygienist", {d: [(time(8), time(14))] for d in (0, 2, 4)}),
]
TYPES = [("Check-up", 30), ("Cleaning", 45), ("Filling", 60)]
OPENING = {d: [(time(8), time(12)), (time(13), time(18))] for d in range(5)} | {
    5: [(time(9), time(13))]
}


async def seed_demo(store: Store, *, today: date, rng_seed: int = 7) -> int:
    """Create the demo practice unless one exists; returns the practice id."""
    zone = ZoneInfo(DEMO_ZONE)
    rng = random.Random(rng_seed)
    async with store.transaction() as s:
        existing = await s.scalar(select(func.min(db.Practice.id)))
        if existing is not None:
            return int(existing)
        practice = db.Practice(
            name="Bright Smile Dental", timezone=DEMO_ZONE, callback_number="+14155550100"
        )
        s.add(practice)
        await s.flush()
        for weekday, periods in OPENING.items():
            for opens, closes in periods:
                s.add(
                    db.OpeningHours(
                        practice_id=practice.id, weekday=weekday, opens=opens, closes=closes
                    )
                )
        s.add(
            db.ClosedDate(
                practice_id=practice.id, day=date(today.year, 12, 25), reason="Christmas Day"
            )
        )
        providers = []
        for name, role, hours in PROVIDERS:
            p = db.Provider(practice_id=practice.id, name=name, role=role)
            s.add(p)
            await s.flush()
            providers.append((p, hours))
            for weekday, periods in hours.items():
                for starts, ends in periods:
                    s.add(
                        db.ProviderHours(
                            provider_id=p.id, weekday=weekday, starts=starts, ends=ends
                        )
                    )
        types = []
        for name, minutes in TYPES:
            t = db.AppointmentType(practice_id=practice.id, name=name, minutes=minutes)
            s.add(t)
            types.append(t)
        await s.flush()
        for provider, _ in providers:  # in the demo, everyone does every kind of visit
            for kind in types:
                s.add(db.ProviderAppointmentType(provider_id=provider.id, type_id=kind.id))
        patients = []
        for name, phone, tz, dob in DEMO_PATIENTS:
            pt = db.Patient(
                practice_id=practice.id, name=name, phone=phone, timezone=tz, date_of_birth=dob
            )
            s.add(pt)
            patients.append(pt)
        await s.flush()

        taken: set[tuple[int, datetime]] = set()
        for offset in range(1, 15):  # a fortnight of appointments from tomorrow
            day = today + timedelta(days=offset)
            for provider, hours in providers:
                periods = intersect(OPENING.get(day.weekday(), []), hours.get(day.weekday(), []))
                for starts, ends in periods:
                    slot = localize(day, starts, zone)
                    end_of_period = localize(day, ends, zone)
                    while slot < end_of_period:
                        kind = rng.choice(types)
                        length = timedelta(minutes=kind.minutes)
                        if slot + length > end_of_period:
                            break
                        if rng.random() < 0.25 and (provider.id, slot) not in taken:
                            taken.add((provider.id, slot))
                            s.add(
                                db.Appointment(
                                    practice_id=practice.id,
                                    patient_id=rng.choice(patients).id,
                                    provider_id=provider.id,
                                    type_id=kind.id,
                                    start_at=slot,
                                    end_at=slot + length,
                                    status="scheduled",
                                )
                            )
                            slot += length
                        else:
                            slot += timedelta(minutes=30)
        return practice.id
