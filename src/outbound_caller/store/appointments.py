"""The scheduling store: one code path over SQLite (default) and PostgreSQL.

Booking races are settled by the database, not by this process: a write transaction
takes the provider's row lock on PostgreSQL (``SELECT ... FOR UPDATE``) and the database
write lock on SQLite (``BEGIN IMMEDIATE``) before it checks for overlaps, and a partial
unique index on (provider, start) of live appointments backs that up.
"""

from __future__ import annotations

import asyncio
import logging
import time as time_module
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..errors import (
    AppointmentNotFound,
    InvalidRequest,
    ScheduleUnavailable,
    SchedulingError,
    SlotUnavailable,
    StoreError,
)
from . import schema as db
from .availability import BAD_SLOT, ProviderDay, decode_slot_id, fits, free_slots, localize
from .database import (
    create_private,
    database_url,
    describe_failure,
    quiet_cancelled_resets,
    redact,
    short_reason,
    sqlite_tuning,
    store_configured,
)
from .scheduling import MAX_DAYS_AHEAD, Appointment, Slot, utc_now

logger = logging.getLogger(__name__)

SLOT_STEP = timedelta(minutes=15)
CONFIG_TTL = 60.0  # seconds a worker may use cached hours/providers for lookups
MAX_VISIT = timedelta(minutes=480)  # the longest appointment type the schema allows
LIVE = ("scheduled", "confirmed", "rescheduled")
STATUSES = (*LIVE, "cancelled")


@dataclass(frozen=True)
class PracticeInfo:
    id: int
    name: str
    zone: ZoneInfo
    callback_number: str
    address: str = ""
    parking: str = ""


@dataclass(frozen=True)
class AppointmentRow:
    """An appointment as the operator and the agent see it."""

    id: int
    practice_id: int
    patient_id: int
    patient_name: str
    patient_phone: str
    patient_date_of_birth: date | None
    provider_id: int
    provider_name: str
    type_name: str
    minutes: int
    start: datetime
    end: datetime
    status: str

    def as_domain(self) -> Appointment:
        return Appointment(
            id=str(self.id),
            patient_name=self.patient_name,
            start=self.start,
            end=self.end,
            provider=self.provider_name,
            status=self.status,  # type: ignore[arg-type]
            type_name=self.type_name,
        )


def appointment_row(a: db.Appointment) -> AppointmentRow:
    return AppointmentRow(
        id=a.id,
        practice_id=a.practice_id,
        patient_id=a.patient_id,
        patient_name=a.patient.name,
        patient_phone=a.patient.phone,
        patient_date_of_birth=a.patient.date_of_birth,
        provider_id=a.provider_id,
        provider_name=a.provider.name,
        type_name=a.type.name,
        minutes=a.type.minutes,
        start=a.start_at,
        end=a.end_at,
        status=a.status,
    )


@dataclass(frozen=True)
class PracticeSetup:
    zone: ZoneInfo
    hours: list[tuple[int, time, time]]
    closed: set[date]
    providers: list[tuple[int, str, list[tuple[int, time, time]]]]
    provider_types: dict[int, set[str]] = field(default_factory=dict)  # what each one does


class Store:
    """All access to the scheduling data. ``now`` is the clock (UTC-aware)."""

    def __init__(self, url: str, *, now: Callable[[], datetime], echo: bool = False) -> None:
        self.url = url
        self._now = now
        self.engine = create_async_engine(url, echo=echo)
        quiet_cancelled_resets(self.engine)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            create_private(url)
            sqlite_tuning(self.engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._setups: dict[int, tuple[float, PracticeSetup]] = {}
        # Same pool; connections it hands out begin with the write lock on SQLite.
        self._writers = async_sessionmaker(
            self.engine.execution_options(write=True), expire_on_commit=False
        )

    async def close(self) -> None:
        await self.engine.dispose()

    # -- lifecycle -------------------------------------------------------------------

    async def ping(self) -> None:
        """Raises StoreError with a clear reason when the database cannot be reached."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(
                f"cannot reach the database at {redact(self.url)}: {short_reason(exc)}"
            ) from None

    def _alembic_config(self) -> Any:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", "outbound_caller.store:migrations")
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    async def revisions(self) -> tuple[str | None, str]:
        """(the schema revision the database is at, None for no schema; the latest one)."""
        from alembic.migration import MigrationContext
        from alembic.script import ScriptDirectory

        await self.ping()
        head = ScriptDirectory.from_config(self._alembic_config()).get_current_head()
        assert head is not None
        try:
            async with self.engine.connect() as conn:
                current = await conn.run_sync(
                    lambda c: MigrationContext.configure(c).get_current_revision()
                )
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(
                f"cannot read the database at {redact(self.url)}: {short_reason(exc)}"
            ) from None
        return current, head

    async def check(self) -> None:
        """Reachable and migrated to the latest revision, or StoreError saying what to do."""
        current, head = await self.revisions()
        if current != head:
            raise StoreError(
                f"the database at {redact(self.url)} is not at the latest schema "
                f"(found {current or 'none'}, need {head}); run `outbound-caller db upgrade`"
            )

    async def upgrade(self) -> None:
        """Create or migrate the schema to the latest revision (Alembic)."""
        from alembic import command

        try:
            await asyncio.to_thread(command.upgrade, self._alembic_config(), "head")
        except (SQLAlchemyError, OSError) as exc:
            raise StoreError(
                f"cannot migrate the database at {redact(self.url)}: {short_reason(exc)}"
            ) from None

    def now(self) -> datetime:
        """The store's clock: what it stamps rows with."""
        return self._now()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable("read", exc) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One write transaction with the database's errors as they are: everything in it
        commits together or not at all, and on SQLite it holds the write lock throughout.
        For the operator's commands (import, seed); the agent's tools use :meth:`write`."""
        async with self._writers() as session, session.begin():
            yield session

    def failure(self, exc: BaseException) -> str:
        """``exc`` from this store's database, told in one line without row data."""
        return describe_failure(exc, self.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction; everything in it commits together or not at all."""
        try:
            async with self.transaction() as session:
                yield session
        except IntegrityError as exc:
            raise SlotUnavailable("That time was just taken.") from exc
        except SchedulingError:
            raise
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable("write", exc) from exc

    def _unavailable(self, what: str, exc: BaseException) -> ScheduleUnavailable:
        """Logs what went wrong (a lock held by another process and how long this waited,
        or a lost connection; never row data); the agent apologises either way."""
        logger.warning("schedule %s failed: %s", what, self.failure(exc))
        return ScheduleUnavailable("I can't reach the schedule right now.")

    # -- reads -----------------------------------------------------------------------

    async def practice(self, practice_id: int) -> PracticeInfo:
        async with self.read() as s:
            p = await s.get(db.Practice, practice_id)
            if p is None:
                raise StoreError(f"no practice with id {practice_id}")
            return PracticeInfo(
                p.id, p.name, ZoneInfo(p.timezone), p.callback_number, p.address, p.parking
            )

    async def appointment(self, appointment_id: int) -> AppointmentRow:
        async with self.read() as s:
            a = await s.get(db.Appointment, appointment_id)
            if a is None:
                raise AppointmentNotFound("I can't find that appointment.")
            return appointment_row(a)

    async def same_day(self, row: AppointmentRow, zone: ZoneInfo) -> list[AppointmentRow]:
        """``row`` and its patient's other live appointments at the practice on the same day
        (read in ``zone``, the practice's), earliest first: what one call covers."""
        lo = datetime.combine(row.start.astimezone(zone).date(), time(), zone)
        query = (
            select(db.Appointment)
            .where(
                db.Appointment.patient_id == row.patient_id,
                db.Appointment.practice_id == row.practice_id,
                db.Appointment.start_at >= lo,
                db.Appointment.start_at < lo + timedelta(days=1),
                (db.Appointment.status.in_(LIVE)) | (db.Appointment.id == row.id),
            )
            .order_by(db.Appointment.start_at, db.Appointment.id)
        )
        async with self.read() as s:
            return [appointment_row(a) for a in (await s.scalars(query)).all()]

    async def appointments(
        self, *, day: date | None = None, status: str | None = None, zone: ZoneInfo | None = None
    ) -> list[AppointmentRow]:
        """Appointments, oldest first; ``day`` is read in ``zone`` (the practice's)."""
        query = select(db.Appointment).order_by(db.Appointment.start_at, db.Appointment.id)
        if status is not None:
            query = query.where(db.Appointment.status == status)
        if day is not None:
            zone = zone or ZoneInfo("UTC")
            lo = datetime.combine(day, datetime.min.time(), zone)
            query = query.where(
                db.Appointment.start_at >= lo, db.Appointment.start_at < lo + timedelta(days=1)
            )
        async with self.read() as s:
            return [appointment_row(a) for a in (await s.scalars(query)).all()]

    async def _setup(self, practice_id: int) -> PracticeSetup:
        """The practice's hours, closed dates and providers: cached for CONFIG_TTL, since
        they change rarely. Bookings are never cached, and every write re-checks all of it
        inside its transaction."""
        cached = self._setups.get(practice_id)
        now = time_module.monotonic()
        if cached is not None and now - cached[0] < CONFIG_TTL:
            return cached[1]
        async with self.read() as s:
            setup = await self.load_setup(s, practice_id)
        self._setups[practice_id] = (now, setup)
        return setup

    async def load_setup(self, s: AsyncSession, practice_id: int) -> PracticeSetup:
        practice = await s.get(db.Practice, practice_id)
        if practice is None:
            raise StoreError(f"no practice with id {practice_id}")
        providers = (
            await s.scalars(
                select(db.Provider)
                .where(db.Provider.practice_id == practice_id)
                .order_by(db.Provider.id)
            )
        ).all()
        return PracticeSetup(
            zone=ZoneInfo(practice.timezone),
            hours=[(h.weekday, h.opens, h.closes) for h in practice.hours],
            closed={c.day for c in practice.closed_dates},
            providers=[
                (p.id, p.name, [(h.weekday, h.starts, h.ends) for h in p.hours]) for p in providers
            ],
            provider_types={p.id: {t.name for t in p.types} for p in providers},
        )

    async def setup(self, practice_id: int) -> PracticeSetup:
        """The practice's hours, closed dates and providers (cached for CONFIG_TTL)."""
        try:
            return await self._setup(practice_id)
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable("read", exc) from exc

    async def availability(
        self,
        practice_id: int,
        day: date,
        *,
        minutes: int,
        provider_id: int | None = None,
        type_name: str | None = None,
        step: timedelta = SLOT_STEP,
    ) -> list[Slot]:
        """Free slots on ``day`` for a visit of ``minutes`` with one provider, or any (who
        does ``type_name``, when it is given)."""
        now = self._now()
        setup = await self._setup(practice_id)
        _check_day(day, now.astimezone(setup.zone).date())
        if day in setup.closed:
            return []
        weekday = day.weekday()
        providers = [
            (pid, name, [(a, b) for d, a, b in hours if d == weekday])
            for pid, name, hours in setup.providers
            if (provider_id is None or pid == provider_id)
            and (type_name is None or type_name in setup.provider_types.get(pid, set()))
        ]
        providers = [p for p in providers if p[2]]
        if not providers:
            return []
        lo = localize(day, time(0), setup.zone)
        hi = localize(day + timedelta(days=1), time(0), setup.zone)
        query = select(
            db.Appointment.provider_id, db.Appointment.start_at, db.Appointment.end_at
        ).where(
            db.Appointment.provider_id.in_([p[0] for p in providers]),
            # bounded on both sides so the (provider, start) index does the work;
            # no visit is longer than MAX_VISIT
            db.Appointment.start_at > lo - MAX_VISIT,
            db.Appointment.start_at < hi,
            db.Appointment.status.in_(LIVE),
        )
        try:
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable("read", exc) from exc
        by_provider: dict[int, list[tuple[datetime, datetime]]] = {}
        for pid, start, end in rows:
            by_provider.setdefault(pid, []).append((start, end))
        return free_slots(
            day=day,
            zone=setup.zone,
            practice_periods=[(a, b) for d, a, b in setup.hours if d == weekday],
            providers=[
                ProviderDay(pid, name, periods, by_provider.get(pid, []))
                for pid, name, periods in providers
            ],
            duration=timedelta(minutes=minutes),
            step=step,
            now=now,
        )

    # -- writes ----------------------------------------------------------------------

    async def confirm(self, appointment_id: int, *, by: str) -> AppointmentRow:
        async with self.write() as s:
            a = await self._locked_appointment(s, appointment_id)
            if a.status == "cancelled":
                raise SchedulingError(
                    "That appointment was cancelled, so there is nothing to confirm."
                )
            self._history(s, a, "confirmed", new_status="confirmed", by=by)
            a.status = "confirmed"
            await s.flush()
            return appointment_row(a)

    async def cancel(self, appointment_id: int, *, by: str) -> AppointmentRow:
        async with self.write() as s:
            a = await self._locked_appointment(s, appointment_id)
            if a.status == "cancelled":
                return appointment_row(a)
            self._history(s, a, "cancelled", new_status="cancelled", by=by)
            a.status = "cancelled"
            await s.flush()
            return appointment_row(a)

    async def reschedule(self, appointment_id: int, slot_id: str, *, by: str) -> AppointmentRow:
        """Move the appointment to the slot, atomically: the new time is taken and the old
        one freed together, or nothing changes."""
        provider_id, start = decode_slot_id(slot_id)
        now = self._now()
        async with self.write() as s:
            a = await self._locked_appointment(s, appointment_id)
            if a.status == "cancelled":
                raise SchedulingError("That appointment was cancelled; I can't move it.")
            provider = (
                await s.scalars(
                    select(db.Provider)
                    .where(db.Provider.id == provider_id, db.Provider.practice_id == a.practice_id)
                    .with_for_update()
                )
            ).one_or_none()
            if provider is None:
                raise InvalidRequest(BAD_SLOT)
            practice = await s.get_one(db.Practice, a.practice_id)
            zone = ZoneInfo(practice.timezone)
            duration = a.end_at - a.start_at
            day = start.astimezone(zone).date()
            if start <= now:
                raise SlotUnavailable("That time has already passed.")
            if any(c.day == day for c in practice.closed_dates) or not fits(
                start=start,
                duration=duration,
                day=day,
                zone=zone,
                practice_periods=[
                    (h.opens, h.closes) for h in practice.hours if h.weekday == day.weekday()
                ],
                provider_periods=[
                    (h.starts, h.ends) for h in provider.hours if h.weekday == day.weekday()
                ],
                step=SLOT_STEP,  # only times a lookup offers book
            ):
                raise InvalidRequest(BAD_SLOT)
            if await _clash(s, provider_id, start, start + duration, a.id) is not None:
                raise SlotUnavailable("That time was just taken.")
            self._history(s, a, "rescheduled", new_start=start, new_status="rescheduled", by=by)
            a.start_at, a.end_at = start, start + duration
            a.provider_id = provider_id
            a.status = "rescheduled"
            await s.flush()
            await s.refresh(a, ["provider"])
            return appointment_row(a)

    async def set_status(self, appointment_id: int, status: str, *, by: str) -> AppointmentRow:
        """The front desk's change of status (the patient called the practice). A cancelled
        appointment comes back only while its time is still free.

        Raises:
            InvalidRequest: not one of the four statuses.
            SlotUnavailable: the cancelled appointment's time has been taken since.
        """
        if status not in STATUSES:
            raise InvalidRequest(f"the status must be one of: {', '.join(sorted(STATUSES))}")
        async with self.write() as s:
            a = await self._locked_appointment(s, appointment_id)
            if a.status == status:
                return appointment_row(a)
            if a.status == "cancelled":  # the provider's lock, as a booking takes it
                await s.execute(
                    select(db.Provider.id).where(db.Provider.id == a.provider_id).with_for_update()
                )
                clash = await _clash(s, a.provider_id, a.start_at, a.end_at, a.id)
                if clash is not None:
                    raise SlotUnavailable(f"its time is now taken by appointment {clash}")
            self._history(s, a, status, new_status=status, by=by)
            a.status = status
            await s.flush()
            return appointment_row(a)

    async def _locked_appointment(self, s: AsyncSession, appointment_id: int) -> db.Appointment:
        a = (
            await s.scalars(
                select(db.Appointment)
                .where(db.Appointment.id == appointment_id)
                .with_for_update(of=db.Appointment)
            )
        ).one_or_none()
        if a is None:
            raise AppointmentNotFound("I can't find that appointment.")
        return a

    def _history(
        self,
        s: AsyncSession,
        a: db.Appointment,
        action: str,
        *,
        new_start: datetime | None = None,
        new_status: str | None = None,
        by: str,
    ) -> None:
        s.add(
            db.AppointmentChange(
                appointment_id=a.id,
                at=self._now(),
                action=action,
                old_start=a.start_at,
                new_start=new_start or a.start_at,
                old_status=a.status,
                new_status=new_status,
                by=by,
            )
        )

    async def history(self, appointment_id: int) -> list[db.AppointmentChange]:
        async with self.read() as s:
            rows = await s.scalars(
                select(db.AppointmentChange)
                .where(db.AppointmentChange.appointment_id == appointment_id)
                .order_by(db.AppointmentChange.id)
            )
            return list(rows.all())


async def _clash(
    s: AsyncSession, provider_id: int, start: datetime, end: datetime, other_than: int
) -> int | None:
    """A live appointment of the provider overlapping ``start``-``end``, other than one."""
    found = await s.scalar(
        select(db.Appointment.id)
        .where(
            db.Appointment.provider_id == provider_id,
            db.Appointment.status.in_(LIVE),
            db.Appointment.id != other_than,
            db.Appointment.start_at < end,
            db.Appointment.end_at > start,
        )
        .limit(1)
    )
    return None if found is None else int(found)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _check_day(day: date, today: date) -> None:
    if day < today:
        raise InvalidRequest("That day has already passed.")
    if day > today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidRequest("I can only book up to four months ahead.")


def open_store(env: Mapping[str, str]) -> Store | None:
    """The store, when one is set up (DATABASE_URL, or the default SQLite file here)."""
    if not store_configured(env):
        return None
    try:
        return Store(database_url(env), now=utc_now)
    except StoreError as exc:
        logger.error("scheduling store unusable: %s", exc)
        return None
