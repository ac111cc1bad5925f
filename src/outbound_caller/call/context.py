"""Who and what a call is about: loaded from the store (``appointment_id``) or taken from
the dispatch metadata inline, for callers without a store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from ..config import Settings
from ..dispatch import DispatchMetadata
from ..errors import AppointmentNotFound, MetadataError, ScheduleUnavailable
from ..store.appointments import AppointmentRow, Store
from ..store.scheduling import Appointment, InMemoryScheduler, Scheduler, Slot
from .state import Practice

INLINE_PAST = timedelta(days=1)
INLINE_AHEAD = timedelta(days=366)


@dataclass(frozen=True)
class CallContext:
    practice: Practice
    scheduler: Scheduler
    patient_name: str | None
    appointments: tuple[Appointment, ...] = ()  # earliest first; all on one day
    date_of_birth: date | None = None


def inline_context(
    settings: Settings, meta: DispatchMetadata, *, now: Callable[[], datetime]
) -> CallContext:
    """A schedule built from the metadata alone.

    Raises:
        MetadataError: the appointment time is not within a day before to a year after now,
            or the PRACTICE_* settings are not set.
    """
    name, callback = settings.practice_name, settings.practice_callback_number
    if name is None or callback is None or settings.practice_timezone is None:
        raise MetadataError(
            "a call without appointment_id speaks for the practice in the settings, and "
            "PRACTICE_NAME, PRACTICE_TIMEZONE or PRACTICE_CALLBACK_NUMBER is not set"
        )
    appointment = None
    if meta.appointment_time is not None:
        start = meta.appointment_time.astimezone(UTC)
        moment = now()
        if not moment - INLINE_PAST <= start <= moment + INLINE_AHEAD:
            raise MetadataError("appointment_time must be between a day ago and a year from now")
        appointment = Appointment(
            id="inline",
            patient_name=meta.patient_name,
            start=start,
            end=start + timedelta(minutes=30),
            provider="your dentist",
        )
    scheduler = InMemoryScheduler(
        zone=settings.zone,
        now=now,
        providers=["your dentist"],
        appointments=[appointment] if appointment else [],
    )
    practice = Practice(name, settings.zone, callback)
    own = (appointment,) if appointment else ()
    return CallContext(practice, scheduler, meta.patient_name, own)


async def store_context(store: Store, meta: DispatchMetadata, *, by: str) -> CallContext:
    """The patient and appointment behind ``meta.appointment_id``, with the patient's other
    appointments that day: one call per number per day covers them all.

    Raises:
        MetadataError: the appointment does not exist, or belongs to someone whose phone
            is not the number being dialed (never call one person about another's visit).
    """
    assert meta.appointment_id is not None
    try:
        row = await store.appointment(meta.appointment_id)
    except AppointmentNotFound:
        raise MetadataError(f"appointment_id {meta.appointment_id} is not in the store") from None
    except ScheduleUnavailable as exc:
        raise MetadataError(f"the store cannot be read: {exc}") from None
    if row.patient_phone != meta.phone_number:
        raise MetadataError(
            f"phone_number is not the phone on file for appointment {meta.appointment_id}'s patient"
        )
    try:
        info = await store.practice(row.practice_id)
        day = await store.same_day(row, info.zone)
        setup = await store.setup(row.practice_id)
    except ScheduleUnavailable as exc:
        raise MetadataError(f"the store cannot be read: {exc}") from None
    scheduler = StoreScheduler(store, practice_id=row.practice_id, patient_id=row.patient_id, by=by)
    return CallContext(
        Practice(
            info.name,
            info.zone,
            info.callback_number,
            info.address,
            info.parking,
            hours=tuple(setup.hours),
            closed_days=frozenset(setup.closed),
        ),
        scheduler,
        row.patient_name,
        tuple(a.as_domain() for a in day),
        row.patient_date_of_birth,
    )


class StoreScheduler:
    """The agent's view of the store: one practice, one patient, nothing else."""

    def __init__(self, store: Store, *, practice_id: int, patient_id: int, by: str) -> None:
        self._store = store
        self._practice_id = practice_id
        self._patient_id = patient_id
        self._by = by

    async def _own(self, appointment_id: str) -> AppointmentRow:
        try:
            row = await self._store.appointment(int(appointment_id))
        except ValueError:
            raise AppointmentNotFound("I can't find that appointment.") from None
        if row.patient_id != self._patient_id or row.practice_id != self._practice_id:
            raise AppointmentNotFound("I can't find that appointment.")
        return row

    async def get_appointment(self, appointment_id: str) -> Appointment:
        return (await self._own(appointment_id)).as_domain()

    async def availability(
        self, day: date, *, duration: timedelta, type_name: str | None = None
    ) -> list[Slot]:
        return await self._store.availability(
            self._practice_id,
            day,
            minutes=int(duration.total_seconds() // 60),
            type_name=type_name,
        )

    async def confirm(self, appointment_id: str) -> Appointment:
        row = await self._own(appointment_id)
        return (await self._store.confirm(row.id, by=self._by)).as_domain()

    async def reschedule(self, appointment_id: str, slot_id: str) -> Appointment:
        row = await self._own(appointment_id)
        return (await self._store.reschedule(row.id, slot_id, by=self._by)).as_domain()

    async def cancel(self, appointment_id: str) -> Appointment:
        row = await self._own(appointment_id)
        return (await self._store.cancel(row.id, by=self._by)).as_domain()
