"""The practice's set-up in the store, read as and written from a :class:`PracticeSpec`:
one transaction, and applying the same description twice changes nothing the second time.

The store's practice row is the one source of truth for every call placed about a stored
appointment (its name, time zone and callback number are what the agent says).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import OutboundCallerError, StoreError
from . import schema as db
from .appointments import Store
from .practice_spec import (
    WEEKDAYS,
    AppointmentTypeSpec,
    PracticeDetails,
    PracticeSpec,
    ProviderSpec,
    check,
)


class SetUpRefused(OutboundCallerError):
    """The change would lose data (a provider or type that still has appointments)."""


@dataclass(frozen=True)
class Applied:
    practice_id: int
    created: bool
    changed: bool
    spec: PracticeSpec  # the practice as it now is


@dataclass(frozen=True)
class PracticeSummary:
    id: int
    name: str
    timezone: str
    callback_number: str
    providers: int
    appointment_types: int
    patients: int


def _week(rows: list[tuple[int, time, time]]) -> dict[Any, list[tuple[time, time]]]:
    week: dict[Any, list[tuple[time, time]]] = {}
    for weekday, start, end in sorted(rows):
        week.setdefault(WEEKDAYS[weekday], []).append((start, end))
    return week


async def _spec(s: AsyncSession, practice: db.Practice) -> PracticeSpec:
    types = (
        await s.scalars(
            select(db.AppointmentType)
            .where(db.AppointmentType.practice_id == practice.id)
            .order_by(db.AppointmentType.id)
        )
    ).all()
    providers = (
        await s.scalars(
            select(db.Provider)
            .where(db.Provider.practice_id == practice.id)
            .order_by(db.Provider.id)
        )
    ).all()
    return PracticeSpec(
        practice=PracticeDetails(
            name=practice.name,
            timezone=practice.timezone,
            callback_number=practice.callback_number,
            address=practice.address,
            parking=practice.parking,
            hours=_week([(h.weekday, h.opens, h.closes) for h in practice.hours]),
            closed={c.day: c.reason for c in sorted(practice.closed_dates, key=lambda c: c.day)},
            call_window=(practice.call_window_start, practice.call_window_end),
            call_on_closed_days=practice.call_on_closed_days,
        ),
        appointment_types=[AppointmentTypeSpec(name=t.name, minutes=t.minutes) for t in types],
        providers=[
            ProviderSpec(
                name=p.name,
                role=p.role,
                hours=_week([(h.weekday, h.starts, h.ends) for h in p.hours]),
                does=[t.name for t in p.types],
            )
            for p in providers
        ],
    )


async def _practice(s: AsyncSession, practice_id: int | None) -> db.Practice | None:
    """The practice ``practice_id``, or the store's only one (None when there is none)."""
    if practice_id is not None:
        practice = await s.get(db.Practice, practice_id)
        if practice is None:
            raise StoreError(f"there is no practice #{practice_id}")
        return practice
    found = (await s.scalars(select(db.Practice).order_by(db.Practice.id).limit(2))).all()
    if len(found) > 1:
        raise StoreError("the store has several practices: say which one with --practice ID")
    return found[0] if found else None


async def load_spec(store: Store, practice_id: int | None = None) -> PracticeSpec:
    """The practice's set-up as a description (the store's only practice by default).

    Raises:
        StoreError: there is no such practice, or none at all.
    """
    try:
        async with store.transaction() as s:
            practice = await _practice(s, practice_id)
            if practice is None:
                raise StoreError(
                    "no practice is set up yet: outbound-caller practice apply practice.yaml"
                )
            return await _spec(s, practice)
    except SQLAlchemyError as exc:
        raise StoreError(store.failure(exc)) from None


async def apply_spec(
    store: Store,
    spec: PracticeSpec,
    practice_id: int | None = None,
    *,
    renamed: dict[str, str] | None = None,
) -> Applied:
    """Make the store's practice what ``spec`` describes, in one transaction: create it when
    the store has none, otherwise update it. Providers and appointment types are matched by
    name; one left out of ``spec`` is removed, unless appointments still refer to it.
    ``renamed`` maps a provider's or type's old name to its new one in ``spec``, so that it
    keeps its appointments.

    Raises:
        SpecError: ``spec`` contradicts itself.
        SetUpRefused: removing a provider or type would orphan appointments.
        StoreError: the store cannot be written; nothing changed.
    """
    spec = _canonical(check(spec))
    try:
        async with store.transaction() as s:
            practice = await _practice(s, practice_id)
            created = practice is None
            if practice is None:
                practice = db.Practice(name=spec.practice.name, timezone="", callback_number="")
                s.add(practice)
                await s.flush()
            elif _canonical(await _spec(s, practice)) == spec:
                return Applied(practice.id, created=False, changed=False, spec=spec)
            await _write(s, practice, spec, {k.lower(): v for k, v in (renamed or {}).items()})
            return Applied(practice.id, created=created, changed=True, spec=spec)
    except SQLAlchemyError as exc:
        raise StoreError(f"nothing changed: {store.failure(exc)}") from None


async def _write(
    s: AsyncSession, practice: db.Practice, spec: PracticeSpec, renamed: dict[str, str]
) -> None:
    p = spec.practice
    practice.name, practice.timezone, practice.callback_number = (
        p.name,
        p.timezone,
        p.callback_number,
    )
    practice.address, practice.parking = p.address, p.parking
    practice.call_window_start, practice.call_window_end = p.call_window
    practice.call_on_closed_days = p.call_on_closed_days
    await s.execute(delete(db.OpeningHours).where(db.OpeningHours.practice_id == practice.id))
    await s.execute(delete(db.ClosedDate).where(db.ClosedDate.practice_id == practice.id))
    for day, periods in p.hours.items():
        for opens, closes in periods:
            s.add(
                db.OpeningHours(
                    practice_id=practice.id,
                    weekday=WEEKDAYS.index(day),
                    opens=opens,
                    closes=closes,
                )
            )
    for closed, reason in p.closed.items():
        s.add(db.ClosedDate(practice_id=practice.id, day=closed, reason=reason))

    types = await _sync(
        s,
        db.AppointmentType,
        practice.id,
        [t.name for t in spec.appointment_types],
        "appointment type",
        db.Appointment.type_id,
        renamed,
    )
    for t in spec.appointment_types:
        types[t.name.lower()].minutes = t.minutes
    providers = await _sync(
        s,
        db.Provider,
        practice.id,
        [v.name for v in spec.providers],
        "provider",
        db.Appointment.provider_id,
        renamed,
    )
    await s.flush()
    for v in spec.providers:
        row = providers[v.name.lower()]
        row.role = v.role
        await s.execute(delete(db.ProviderHours).where(db.ProviderHours.provider_id == row.id))
        for day, periods in v.hours.items():
            for starts, ends in periods:
                s.add(
                    db.ProviderHours(
                        provider_id=row.id, weekday=WEEKDAYS.index(day), starts=starts, ends=ends
                    )
                )
        await s.execute(
            delete(db.ProviderAppointmentType).where(
                db.ProviderAppointmentType.provider_id == row.id
            )
        )
        for name in v.does:
            s.add(db.ProviderAppointmentType(provider_id=row.id, type_id=types[name.lower()].id))
    await s.flush()


def _canonical(spec: PracticeSpec) -> PracticeSpec:
    """``spec`` in one order (types and providers by name, each provider's types by the
    spelling the types have), so that two descriptions of one set-up compare equal."""
    spelling = {t.name.lower(): t.name for t in spec.appointment_types}
    return spec.model_copy(
        update={
            "appointment_types": sorted(spec.appointment_types, key=lambda t: t.name.lower()),
            "providers": sorted(
                (
                    v.model_copy(update={"does": sorted({spelling[n.lower()] for n in v.does})})
                    for v in spec.providers
                ),
                key=lambda v: v.name.lower(),
            ),
        }
    )


async def _sync(
    s: AsyncSession,
    model: Any,
    practice_id: int,
    names: list[str],
    what: str,
    used_by: Any,
    renamed: dict[str, str],
) -> dict[str, Any]:
    """The practice's rows of ``model`` made exactly ``names`` (matched without regard to
    case; a new spelling renames the row): new ones added, left-out ones deleted unless
    appointments use them. Returns the rows by lower-case name."""
    rows = {
        renamed.get(r.name.lower(), r.name).lower(): r
        for r in (await s.scalars(select(model).where(model.practice_id == practice_id))).all()
    }
    wanted = {n.lower(): n for n in names}
    for key, row in list(rows.items()):
        if key in wanted:
            row.name = wanted[key]
            continue
        used = await s.scalar(select(func.count()).where(used_by == row.id))
        if used:
            raise SetUpRefused(
                f"the {what} {row.name!r} is not in the description, but {used} "
                f"appointment(s) are with it: keep it, or move those appointments first"
            )
        for child in _children(model):
            await s.execute(delete(child[0]).where(child[1] == row.id))
        await s.execute(delete(model).where(model.id == row.id))
        del rows[key]
    await s.flush()
    for key, name in wanted.items():
        if key not in rows:
            rows[key] = model(practice_id=practice_id, name=name, **_defaults(model))
            s.add(rows[key])
    await s.flush()
    return rows


def _children(model: Any) -> list[tuple[Any, Any]]:
    """The rows that hang on a row of ``model``, as (table, column referring to it)."""
    link = db.ProviderAppointmentType
    if model is db.AppointmentType:
        return [(link, link.type_id)]
    return [(link, link.provider_id), (db.ProviderHours, db.ProviderHours.provider_id)]


def _defaults(model: Any) -> dict[str, Any]:
    return {"minutes": 30} if model is db.AppointmentType else {"role": ""}


async def practice_summaries(store: Store) -> list[PracticeSummary]:
    """Every practice in the store with how much is set up in it."""

    def count(model: Any) -> Any:
        return (
            select(func.count())
            .where(model.practice_id == db.Practice.id)
            .correlate(db.Practice)
            .scalar_subquery()
        )

    query = select(
        db.Practice.id,
        db.Practice.name,
        db.Practice.timezone,
        db.Practice.callback_number,
        count(db.Provider),
        count(db.AppointmentType),
        count(db.Patient),
    ).order_by(db.Practice.id)
    try:
        async with store.transaction() as s:
            return [PracticeSummary(*row) for row in (await s.execute(query)).all()]
    except SQLAlchemyError as exc:
        raise StoreError(store.failure(exc)) from None
