"""The scheduling interface the agent's tools use, and an in-memory implementation.

The store issue replaces :class:`InMemoryScheduler` with a database-backed one; the
agent only depends on :class:`Scheduler`. Every datetime here is time-zone aware and
kept in UTC; callers convert to the practice's zone for speech.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from ..errors import AppointmentNotFound, InvalidRequest, SchedulingError, SlotUnavailable

AppointmentStatus = Literal["scheduled", "confirmed", "rescheduled", "cancelled"]
Clock = Callable[[], datetime]

MAX_DAYS_AHEAD = 120


def utc_now() -> datetime:
    """The real clock. Logic takes a clock argument; only entry points pass this one."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Slot:
    """A bookable time. ``id`` is opaque and stable: the LLM passes it back verbatim."""

    id: str
    start: datetime
    end: datetime
    provider: str


@dataclass(frozen=True)
class Appointment:
    id: str
    patient_name: str | None
    start: datetime
    end: datetime
    provider: str
    status: AppointmentStatus = "scheduled"
    type_name: str | None = None  # "Cleaning"; None when the caller has no types

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


class Scheduler(Protocol):
    """What the agent can ask of a schedule. All methods may raise SchedulingError."""

    async def get_appointment(self, appointment_id: str) -> Appointment: ...

    async def availability(
        self, day: date, *, duration: timedelta, type_name: str | None = None
    ) -> list[Slot]:
        """Open times on ``day``, with providers who do ``type_name`` when it is given."""
        ...

    async def confirm(self, appointment_id: str) -> Appointment: ...

    async def reschedule(self, appointment_id: str, slot_id: str) -> Appointment: ...

    async def cancel(self, appointment_id: str) -> Appointment: ...


WorkingHours = Mapping[int, list[tuple[time, time]]]
"""Weekday (Monday is 0) to the open periods of that day, in the practice's zone."""

DEFAULT_HOURS: WorkingHours = {
    d: [(time(8, 0), time(12, 0)), (time(13, 0), time(17, 0))] for d in range(5)
}


def slot_id(provider: str, start: datetime) -> str:
    digest = hashlib.sha256(f"{provider}|{start.astimezone(UTC).isoformat()}".encode())
    return "slot_" + digest.hexdigest()[:10]


class InMemoryScheduler:
    """A schedule held in memory: one practice, a few providers, fixed working hours."""

    def __init__(
        self,
        *,
        zone: ZoneInfo,
        now: Clock,
        providers: Iterable[str] = ("Dr. Rivera",),
        hours: WorkingHours = DEFAULT_HOURS,
        slot_minutes: int = 30,
        appointments: Iterable[Appointment] = (),
    ) -> None:
        self._zone = zone
        self._now = now
        self._providers = list(providers)
        self._hours = hours
        self._step = timedelta(minutes=slot_minutes)
        self._appointments = {a.id: a for a in appointments}
        self._offered: dict[str, Slot] = {}

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    async def get_appointment(self, appointment_id: str) -> Appointment:
        try:
            return self._appointments[appointment_id]
        except KeyError:
            raise AppointmentNotFound("I can't find that appointment.") from None

    async def availability(
        self, day: date, *, duration: timedelta, type_name: str | None = None
    ) -> list[Slot]:
        today = self._now().astimezone(self._zone).date()
        if day < today:
            raise InvalidRequest("That day has already passed.")
        if day > today + timedelta(days=MAX_DAYS_AHEAD):
            raise InvalidRequest("I can only book up to four months ahead.")
        slots = [s for s in self._candidates(day, duration) if self._is_free(s)]
        for s in slots:
            self._offered[s.id] = s
        return slots

    async def confirm(self, appointment_id: str) -> Appointment:
        appt = await self.get_appointment(appointment_id)
        if appt.status == "cancelled":
            raise SchedulingError("That appointment was cancelled, so there is nothing to confirm.")
        confirmed = replace(appt, status="confirmed")
        self._appointments[appt.id] = confirmed
        return confirmed

    async def reschedule(self, appointment_id: str, slot_id: str) -> Appointment:
        appt = await self.get_appointment(appointment_id)
        slot = self._offered.get(slot_id)
        if slot is None:
            raise InvalidRequest("That time is not one this call offered.")
        if slot.start <= self._now():
            raise SlotUnavailable("That time has already passed.")
        if not self._is_free(slot, ignore=appt.id):
            raise SlotUnavailable("That time was just taken.")
        moved = replace(
            appt, start=slot.start, end=slot.end, provider=slot.provider, status="rescheduled"
        )
        self._appointments[appt.id] = moved
        return moved

    async def cancel(self, appointment_id: str) -> Appointment:
        appt = await self.get_appointment(appointment_id)
        cancelled = replace(appt, status="cancelled")
        self._appointments[appt.id] = cancelled
        return cancelled

    def _candidates(self, day: date, duration: timedelta) -> Iterable[Slot]:
        now = self._now()
        for provider in self._providers:
            for opens, closes in self._hours.get(day.weekday(), []):
                start = datetime.combine(day, opens, self._zone)
                end_of_period = datetime.combine(day, closes, self._zone)
                while start + duration <= end_of_period:
                    begin, end = start.astimezone(UTC), (start + duration).astimezone(UTC)
                    if begin > now:
                        yield Slot(slot_id(provider, begin), begin, end, provider)
                    start += self._step

    def _is_free(self, slot: Slot, *, ignore: str | None = None) -> bool:
        return not any(
            a.provider == slot.provider
            and a.status != "cancelled"
            and a.id != ignore
            and a.start < slot.end
            and slot.start < a.end
            for a in self._appointments.values()
        )
