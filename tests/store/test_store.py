"""The scheduling store, run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import stat
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from conftest import NOW, NY
from outbound_caller.call.context import StoreScheduler
from outbound_caller.errors import (
    AppointmentNotFound,
    InvalidRequest,
    ScheduleUnavailable,
    SlotUnavailable,
    StoreError,
)
from outbound_caller.phone import to_e164
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.availability import encode_slot_id
from outbound_caller.store.database import database_url
from outbound_caller.store.seed import DEMO_PATIENTS, seed_demo
from storedata import add_appointment, add_patients_with_appointments, make_practice


async def test_migrations_create_exactly_the_modelled_schema(store: Store) -> None:
    await store.upgrade()  # a second upgrade is a no-op
    async with store.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), db.Base.metadata)
        )
    assert diff == []


async def test_availability_leaves_out_bookings_breaks_other_providers_and_the_past(
    store: Store,
) -> None:
    ids = await make_practice(store)
    slots = await store.availability(
        ids.practice, date(2026, 12, 1), minutes=30, provider_id=ids.rivera
    )
    starts = [s.start.astimezone(NY).time() for s in slots]
    assert starts[0] == time(8, 0)
    assert time(12, 0) not in starts  # the practice's lunch break
    assert time(14, 30) not in starts  # Jane's check-up
    assert time(14, 15) not in starts  # would overlap it
    assert starts[-1] == time(16, 30)
    assert {s.provider for s in slots} == {"Dr. Rivera"}
    both = await store.availability(ids.practice, date(2026, 12, 1), minutes=30)
    assert {s.provider for s in both} == {"Dr. Rivera", "Dr. Chen"}
    # today: nothing before now (Monday 10:00)
    today = await store.availability(ids.practice, date(2026, 11, 30), minutes=30)
    assert min(s.start for s in today) > NOW


async def test_closed_dates_and_days_without_hours_have_no_slots(store: Store) -> None:
    ids = await make_practice(store)
    assert await store.availability(ids.practice, date(2026, 12, 25), minutes=30) == []
    with pytest.raises(InvalidRequest, match="already passed"):
        await store.availability(ids.practice, date(2026, 11, 27), minutes=30)


@pytest.mark.parametrize(
    ("day", "slots", "first_utc"),
    [
        (date(2026, 11, 29), 8, datetime(2026, 11, 29, 5, 0, tzinfo=UTC)),  # an ordinary Sunday
        (date(2027, 3, 14), 6, datetime(2027, 3, 14, 5, 0, tzinfo=UTC)),  # spring forward
        (date(2026, 11, 1), 10, datetime(2026, 11, 1, 4, 0, tzinfo=UTC)),  # fall back
    ],
)
async def test_daylight_saving_days_have_the_real_number_of_hours(
    store: Store, day: date, slots: int, first_utc: datetime
) -> None:
    ids = await make_practice(store)
    eve = Store(store.url, now=lambda: datetime.combine(day - timedelta(days=1), time(), UTC))
    try:
        found = await eve.availability(
            ids.practice, day, minutes=30, provider_id=ids.rivera, step=timedelta(minutes=30)
        )
    finally:
        await eve.close()
    assert len(found) == slots  # 00:00-04:00 local is 3, 4 or 5 real hours
    assert found[0].start == first_utc
    assert all(b.start - a.start == timedelta(minutes=30) for a, b in itertools.pairwise(found))


async def test_confirm_and_reschedule_change_the_row_and_write_history(store: Store) -> None:
    ids = await make_practice(store)
    confirmed = await store.confirm(ids.jane_appt, by="AJ_1")
    assert confirmed.status == "confirmed"
    [slot, *_] = await store.availability(
        ids.practice, date(2026, 12, 2), minutes=30, provider_id=ids.chen
    )
    moved = await store.reschedule(ids.jane_appt, slot.id, by="AJ_1")
    assert (moved.start, moved.provider_name, moved.status) == (
        slot.start,
        "Dr. Chen",
        "rescheduled",
    )
    row = await store.appointment(ids.jane_appt)
    assert row.start == slot.start
    assert row.end - row.start == timedelta(minutes=30)
    history = await store.history(ids.jane_appt)
    assert [(h.action, h.by) for h in history] == [("confirmed", "AJ_1"), ("rescheduled", "AJ_1")]
    assert history[1].old_start == datetime(2026, 12, 1, 14, 30, tzinfo=NY)
    assert history[1].new_start == slot.start
    # the old time is free again
    tuesday = await store.availability(
        ids.practice, date(2026, 12, 1), minutes=30, provider_id=ids.rivera
    )
    assert datetime(2026, 12, 1, 14, 30, tzinfo=NY) in [s.start for s in tuesday]


async def test_every_write_refuses_an_appointment_that_does_not_exist(store: Store) -> None:
    ids = await make_practice(store)
    [slot, *_] = await store.availability(ids.practice, date(2026, 12, 2), minutes=30)
    with pytest.raises(AppointmentNotFound):
        await store.confirm(99999, by="x")
    with pytest.raises(AppointmentNotFound):
        await store.cancel(99999, by="x")
    with pytest.raises(AppointmentNotFound):
        await store.reschedule(99999, slot.id, by="x")


async def test_a_booking_at_midnight_blocks_its_slot(store: Store) -> None:
    ids = await make_practice(store)  # Dr. Rivera works Sunday nights, 00:00-04:00
    sunday = date(2026, 12, 6)
    midnight = datetime(2026, 12, 6, 0, 0, tzinfo=NY)
    await add_appointment(store, ids, midnight, patient=ids.john, provider=ids.rivera)
    slots = await store.availability(ids.practice, sunday, minutes=30, provider_id=ids.rivera)
    assert slots[0].start == datetime(2026, 12, 6, 0, 30, tzinfo=NY)


async def test_cancel_frees_the_slot(store: Store) -> None:
    ids = await make_practice(store)
    await store.cancel(ids.john_appt, by="operator")
    assert (await store.appointment(ids.john_appt)).status == "cancelled"
    assert [(h.action, h.by) for h in await store.history(ids.john_appt)] == [
        ("cancelled", "operator")
    ]
    slots = await store.availability(
        ids.practice, date(2026, 12, 3), minutes=30, provider_id=ids.rivera
    )
    assert datetime(2026, 12, 3, 9, 0, tzinfo=NY) in [s.start for s in slots]


async def test_bad_slot_ids_and_taken_slots_change_nothing(store: Store) -> None:
    ids = await make_practice(store)
    john_slot = next(
        s
        for s in await store.availability(ids.practice, date(2026, 12, 3), minutes=30)
        if s.start == datetime(2026, 12, 3, 9, 30, tzinfo=NY)
    )
    await store.reschedule(ids.john_appt, john_slot.id, by="AJ_2")
    for bad in ("slot_nonsense", "tomorrow at 3", john_slot.id):
        with pytest.raises((InvalidRequest, SlotUnavailable)):
            await store.reschedule(ids.jane_appt, bad, by="AJ_1")
    assert (await store.appointment(ids.jane_appt)).status == "scheduled"
    assert [h.action for h in await store.history(ids.jane_appt)] == []


async def test_a_well_formed_slot_id_off_the_offered_grid_books_nothing(store: Store) -> None:
    ids = await make_practice(store)
    offered = await store.availability(ids.practice, date(2026, 12, 8), minutes=30)
    assert datetime(2026, 12, 8, 15, 0, tzinfo=NY) in {s.start for s in offered}
    # 15:07 with Dr. Rivera: working time, free, but never offered (15-minute grid)
    off_grid = encode_slot_id(ids.rivera, datetime(2026, 12, 8, 15, 7, tzinfo=NY))
    assert off_grid not in {s.id for s in offered}
    with pytest.raises(InvalidRequest):
        await store.reschedule(ids.jane_appt, off_grid, by="AJ_1")
    assert (await store.appointment(ids.jane_appt)).status == "scheduled"
    on_grid = encode_slot_id(ids.rivera, datetime(2026, 12, 8, 15, 0, tzinfo=NY))
    assert (await store.reschedule(ids.jane_appt, on_grid, by="AJ_1")).status == "rescheduled"


async def make_other_practice(store: Store) -> int:
    """A second practice whose provider works every day, all day: returns the provider's id."""
    async with store.transaction() as s:
        other = db.Practice(name="Other Dental", timezone="America/New_York", callback_number="+1")
        s.add(other)
        await s.flush()
        provider = db.Provider(practice_id=other.id, name="Dr. Other", role="dentist")
        s.add(provider)
        await s.flush()
        for d in range(7):
            s.add(db.OpeningHours(practice_id=other.id, weekday=d, opens=time(0), closes=time(23)))
            s.add(
                db.ProviderHours(provider_id=provider.id, weekday=d, starts=time(0), ends=time(23))
            )
        return provider.id


@pytest.mark.parametrize(
    ("case", "when"),
    [
        ("in the past", datetime(2026, 11, 30, 9, 0, tzinfo=NY)),  # NOW is 10:00 that day
        ("on a closed day", datetime(2026, 12, 25, 10, 0, tzinfo=NY)),  # Christmas, a Friday
        ("after the practice closes", datetime(2026, 12, 8, 17, 30, tzinfo=NY)),
        ("in the lunch break", datetime(2026, 12, 8, 12, 15, tzinfo=NY)),
        ("before the provider starts", datetime(2026, 12, 8, 9, 0, tzinfo=NY)),  # Dr. Chen: 10-16
        ("another practice's provider", datetime(2026, 12, 8, 11, 0, tzinfo=NY)),
    ],
)
async def test_the_store_refuses_a_forged_slot_id_the_lookup_would_never_offer(
    store: Store, case: str, when: datetime
) -> None:
    ids = await make_practice(store)
    provider = {
        "another practice's provider": await make_other_practice(store),
        "before the provider starts": ids.chen,
    }.get(case, ids.rivera)  # Dr. Rivera works 08:00-17:00 every day but Sunday
    forged = encode_slot_id(provider, when)
    with pytest.raises((InvalidRequest, SlotUnavailable)):
        await store.reschedule(ids.jane_appt, forged, by="AJ_1")
    row = await store.appointment(ids.jane_appt)
    assert (row.status, row.start, row.provider_id) == (
        "scheduled",
        datetime(2026, 12, 1, 14, 30, tzinfo=NY),
        ids.rivera,
    )
    assert await store.history(ids.jane_appt) == []
    # the same day, inside everyone's hours, books: the refusal was the check's
    fine = encode_slot_id(ids.chen, datetime(2026, 12, 8, 11, 0, tzinfo=NY))
    assert (await store.reschedule(ids.jane_appt, fine, by="AJ_1")).status == "rescheduled"


async def test_fifty_calls_reaching_for_overlapping_times_book_one_of_them(store: Store) -> None:
    """Different starts (09:00, 09:15, 09:20 for 30-minute visits): the unique index on the
    start cannot settle this; only the provider's lock (SQLite: the write lock) can."""
    ids = await make_practice(store)
    appointments = await add_patients_with_appointments(store, ids, 50)
    starts = [datetime(2026, 12, 7, 9, m, tzinfo=NY) for m in (0, 15, 20)]
    slots = [encode_slot_id(ids.rivera, t) for t in starts]

    async def attempt(n: int, appointment_id: int) -> str:
        try:
            await store.reschedule(appointment_id, slots[n % 3], by=f"call-{appointment_id}")
        except (SlotUnavailable, InvalidRequest):
            return "refused"
        return "booked"

    results = await asyncio.gather(*(attempt(n, a) for n, a in enumerate(appointments)))
    async with store.read() as s:
        live = (
            await s.execute(
                select(db.Appointment.start_at, db.Appointment.end_at).where(
                    db.Appointment.provider_id == ids.rivera,
                    db.Appointment.status != "cancelled",
                    db.Appointment.start_at >= datetime(2026, 12, 7, 8, 30, tzinfo=NY),
                    db.Appointment.start_at < datetime(2026, 12, 7, 10, 0, tzinfo=NY),
                )
            )
        ).all()
    assert results.count("booked") == 1
    assert len(live) == 1, live


async def test_the_unique_index_refuses_two_live_visits_at_one_start(store: Store) -> None:
    ids = await make_practice(store)
    start = datetime(2026, 12, 9, 9, 0, tzinfo=NY)

    def visit(status: str) -> db.Appointment:
        return db.Appointment(
            practice_id=ids.practice,
            patient_id=ids.john,
            provider_id=ids.rivera,
            type_id=ids.checkup,
            start_at=start,
            end_at=start + timedelta(minutes=30),
            status=status,
        )

    async with store.transaction() as s:  # a cancelled visit does not hold the time
        s.add_all([visit("cancelled"), visit("scheduled")])

    async def double_book() -> None:
        async with store.transaction() as s:
            s.add(visit("confirmed"))

    with pytest.raises(IntegrityError):
        await double_book()


async def test_fifty_calls_reaching_for_one_slot_book_it_exactly_once(store: Store) -> None:
    ids = await make_practice(store)
    appointments = await add_patients_with_appointments(store, ids, 50)
    [slot, *_] = await store.availability(
        ids.practice, date(2026, 12, 7), minutes=30, provider_id=ids.rivera
    )

    async def attempt(appointment_id: int) -> str:
        try:
            await store.reschedule(appointment_id, slot.id, by=f"call-{appointment_id}")
        except SlotUnavailable as exc:
            return str(exc)
        return "booked"

    results = await asyncio.gather(*(attempt(a) for a in appointments))
    assert results.count("booked") == 1
    assert set(results) == {"booked", "That time was just taken."}
    async with store.read() as s:
        live_at_slot = await s.scalar(
            select(func.count())
            .select_from(db.Appointment)
            .where(
                db.Appointment.provider_id == ids.rivera,
                db.Appointment.start_at == slot.start,
                db.Appointment.status != "cancelled",
            )
        )
    assert live_at_slot == 1


async def test_the_agent_view_is_scoped_to_one_patient(store: Store) -> None:
    ids = await make_practice(store)
    jane = StoreScheduler(store, practice_id=ids.practice, patient_id=ids.jane, by="AJ_1")
    with pytest.raises(AppointmentNotFound):
        await jane.confirm(str(ids.john_appt))
    with pytest.raises(AppointmentNotFound):
        await jane.get_appointment("not-a-number")
    assert (await store.appointment(ids.john_appt)).status == "scheduled"
    assert (await jane.confirm(str(ids.jane_appt))).status == "confirmed"


async def test_seed_demo_builds_a_fortnight_and_is_idempotent(store: Store) -> None:
    first = await seed_demo(store, today=date(2026, 11, 30))
    assert await seed_demo(store, today=date(2026, 11, 30)) == first
    rows = await store.appointments()
    assert len(rows) > 40
    assert min(r.start for r in rows).date() >= date(2026, 12, 1)
    assert max(r.start for r in rows).date() <= date(2026, 12, 15)
    async with store.read() as s:
        providers = await s.scalar(select(func.count()).select_from(db.Provider))
        zones = set(await s.scalars(select(db.Patient.timezone)))
    assert providers == 3
    assert len(zones) >= 4


def test_every_demo_patient_has_a_number_a_call_accepts() -> None:
    # an Ofcom drama number outside libphonenumber's valid ranges (+44 7700 900123) made
    # `outbound-caller call` refuse that patient: "is not a valid phone number"
    for name, number, _, _ in DEMO_PATIENTS:
        assert to_e164(number) == number, name


async def test_an_unreachable_database_is_a_clear_error() -> None:
    store = Store("postgresql+asyncpg://nobody@127.0.0.1:9/none", now=lambda: NOW)
    try:
        with pytest.raises(StoreError, match="cannot reach the database at postgresql"):
            await store.ping()
        scheduler = StoreScheduler(store, practice_id=1, patient_id=1, by="x")
        with pytest.raises(ScheduleUnavailable, match="can't reach the schedule"):
            await scheduler.confirm("1")
    finally:
        await store.close()


def test_database_url_defaults_to_a_sqlite_file_and_maps_drivers() -> None:
    assert database_url({}) == "sqlite+aiosqlite:///outbound-caller.db"
    assert (
        database_url({"DATABASE_URL": "postgresql://u:p@db/x"}) == "postgresql+asyncpg://u:p@db/x"
    )
    assert database_url({"DATABASE_URL": "sqlite:///var/oc.db"}) == "sqlite+aiosqlite:///var/oc.db"
    with pytest.raises(StoreError, match="must start with postgresql://"):
        database_url({"DATABASE_URL": "mysql://x"})


async def test_a_new_sqlite_database_and_its_journal_are_private(tmp_path: Path) -> None:
    # names, phones and dates of birth: readable by their owner only, whatever the umask
    old = os.umask(0o022)
    try:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'practice.db'}", now=lambda: NOW)
        try:
            await store.upgrade()
            await make_practice(store)
            files = sorted(tmp_path.glob("practice.db*"))
            assert [f.name for f in files][:1] == ["practice.db"]
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
        finally:
            await store.close()
    finally:
        os.umask(old)


async def test_a_cancelled_connection_reset_is_not_logged_as_an_error(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Ctrl-C on a command cancels a query mid-way; the pool discards that connection and
    logs "Exception during reset or similar" with a traceback. For a cancellation nothing is
    lost and the user must not see it; any other failure is still logged."""
    pool_log = store.engine.sync_engine.pool.logger
    with caplog.at_level(logging.ERROR, logger="sqlalchemy"):
        for failure in (asyncio.CancelledError(), OSError("disk I/O error")):
            try:
                raise failure
            except BaseException:
                pool_log.error("Exception during reset or similar", exc_info=True)
    logged = [r.exc_info[0] for r in caplog.records if r.exc_info]
    assert logged == [OSError]
