"""The appointments half of the CSV import: each row checked (patient, provider and type on
file, the provider doing that type, a time with an offset, inside working hours, no overlap
with another live appointment), then written in the importer's transaction.

A row with an ``external_id`` (the practice's own id for the appointment) that is already on
file is the same appointment: unchanged, it is left alone; changed, it is updated when the
import runs with ``update`` (a nightly export re-imported) and refused otherwise.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..phone import to_e164
from . import schema as db
from .appointments import LIVE, PracticeSetup
from .availability import fits

STATUSES = {"scheduled", "confirmed", "rescheduled", "cancelled"}
BATCH = 5000  # rows per INSERT


class Problems(Exception):
    """The rows that cannot be imported, as (line, why)."""

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


@dataclass(frozen=True)
class Counts:
    added: int
    updated: int
    unchanged: int


@dataclass(frozen=True)
class _Planned:
    line: int
    patient_id: int
    provider: db.Provider
    type_id: int
    start: datetime
    end: datetime
    status: str
    external_id: str | None
    existing: db.Appointment | None  # the appointment on file this row updates


async def import_appointments(
    s: AsyncSession,
    practice: db.Practice,
    setup: PracticeSetup,
    rows: list[tuple[int, dict[str, str]]],
    now: Callable[[], datetime],
    *,
    outside_hours: bool,
    update: bool,
) -> Counts:
    """Check every row, then write them all; raises :class:`Problems` and writes nothing
    when any row is bad."""
    patients: dict[str, int] = {
        phone: patient_id
        for phone, patient_id in (
            await s.execute(
                select(db.Patient.phone, db.Patient.id).where(db.Patient.practice_id == practice.id)
            )
        ).all()
    }
    # the providers' row locks, as a booking takes them, held until the commit (PostgreSQL;
    # SQLite's write lock is already held)
    providers = {
        p.name.casefold(): p
        for p in await s.scalars(
            select(db.Provider)
            .where(db.Provider.practice_id == practice.id)
            .order_by(db.Provider.id)
            .with_for_update()
        )
    }
    types = {
        t.name.casefold(): t
        for t in await s.scalars(
            select(db.AppointmentType).where(db.AppointmentType.practice_id == practice.id)
        )
    }
    wanted = {row["external_id"] for _, row in rows if row.get("external_id")}
    on_file = {
        a.external_id: a
        for a in await s.scalars(
            select(db.Appointment).where(
                db.Appointment.practice_id == practice.id, db.Appointment.external_id.in_(wanted)
            )
        )
    }
    hours = {pid: periods for pid, _name, periods in setup.providers}
    problems: list[tuple[int, str]] = []
    planned: list[_Planned] = []
    seen: dict[str, int] = {}
    unchanged = 0
    for line, row in rows:
        reasons = []
        patient_id: int | None = None
        try:
            raw = row.get("patient_phone", "")
            # already the E.164 on file: no need to parse it (the parse is most of a row's cost)
            patient_id = patients.get(raw) or patients.get(to_e164(raw))
            if patient_id is None:
                reasons.append("patient_phone is not a patient on file (import patients first)")
        except ValueError as exc:
            reasons.append(f"patient_phone {exc}")
        provider = providers.get(row.get("provider", "").casefold())
        if provider is None:
            reasons.append(
                f"provider {row.get('provider', '')!r} is not one of: "
                + ", ".join(sorted(p.name for p in providers.values()))
            )
        kind = types.get(row.get("type", "").casefold())
        if kind is None:
            reasons.append(
                f"type {row.get('type', '')!r} is not one of: "
                + ", ".join(sorted(t.name for t in types.values()))
            )
        if provider is not None and kind is not None and kind not in provider.types:
            reasons.append(
                f"{provider.name} does not do {kind.name} appointments "
                f"(outbound-caller provider set {provider.name!r} --does ...)"
            )
        start: datetime | None = None
        try:
            start = datetime.fromisoformat(row.get("start", ""))
            if start.tzinfo is None:
                reasons.append("start needs a UTC offset, e.g. 2026-12-01T14:30:00-05:00")
                start = None
        except ValueError:
            reasons.append("start must be ISO 8601 with an offset, e.g. 2026-12-01T14:30:00-05:00")
        status = row.get("status") or "scheduled"
        if status not in STATUSES:
            reasons.append(f"status must be one of: {', '.join(sorted(STATUSES))}")
        external_id = row.get("external_id") or None
        if external_id is not None:
            if len(external_id) > 100:
                reasons.append("external_id is longer than 100 characters")
            elif external_id in seen:
                reasons.append(f"external_id repeats line {seen[external_id]}")
            seen.setdefault(external_id, line)
        if reasons or patient_id is None or provider is None or kind is None or start is None:
            problems.append((line, "; ".join(reasons)))
            continue
        end = start + timedelta(minutes=kind.minutes)
        existing = on_file.get(external_id) if external_id is not None else None
        if existing is not None:
            same = (
                existing.patient_id,
                existing.provider_id,
                existing.type_id,
                existing.start_at,
                existing.status,
            ) == (patient_id, provider.id, kind.id, start, status)
            if same:
                unchanged += 1
                continue
            if not update:
                problems.append(
                    (
                        line,
                        f"external_id {external_id} is on file as appointment {existing.id} "
                        "with other details (--update changes it)",
                    )
                )
                continue
        if status in LIVE and not outside_hours:
            local = start.astimezone(setup.zone)
            day, weekday = local.date(), local.weekday()
            if day in setup.closed or not fits(
                start=start,
                duration=end - start,
                day=day,
                zone=setup.zone,
                practice_periods=[(a, b) for d, a, b in setup.hours if d == weekday],
                provider_periods=[(a, b) for d, a, b in hours[provider.id] if d == weekday],
            ):
                problems.append(
                    (
                        line,
                        f"{local:%a %Y-%m-%d %H:%M} is outside the working hours of the "
                        f"practice or {provider.name} (--outside-hours imports it anyway)",
                    )
                )
                continue
        planned.append(
            _Planned(line, patient_id, provider, kind.id, start, end, status, external_id, existing)
        )
    problems += await _overlaps(s, [p for p in planned if p.status in LIVE])
    if problems:
        raise Problems(sorted(problems))
    at = now()
    added = [p for p in planned if p.existing is None]
    await _insert(s, practice, added, at)
    for p in planned:
        if p.existing is not None:
            _update(s, p.existing, p, at)
    return Counts(added=len(added), updated=len(planned) - len(added), unchanged=unchanged)


async def _insert(
    s: AsyncSession, practice: db.Practice, rows: list[_Planned], at: datetime
) -> None:
    if not rows:
        return
    before = await s.scalar(select(func.coalesce(func.max(db.Appointment.id), 0)))
    values = [
        {
            "practice_id": practice.id,
            "patient_id": p.patient_id,
            "provider_id": p.provider.id,
            "type_id": p.type_id,
            "start_at": p.start,
            "end_at": p.end,
            "status": p.status,
            "external_id": p.external_id,
        }
        for p in rows
    ]
    for k in range(0, len(values), BATCH):  # executemany, no per-row round trip
        await s.execute(insert(db.Appointment), values[k : k + BATCH])
    # their history, in one statement: the rows this transaction added (the practice's
    # providers are locked, so no other import adds any meanwhile)
    created = select(
        db.Appointment.id,
        bindparam("at", at, type_=db.Appointment.start_at.type),
        literal("created"),
        db.Appointment.start_at,
        db.Appointment.status,
        literal("import"),
    ).where(db.Appointment.id > before, db.Appointment.practice_id == practice.id)
    await s.execute(
        insert(db.AppointmentChange).from_select(
            ["appointment_id", "at", "action", "new_start", "new_status", "by"], created
        )
    )


def _update(s: AsyncSession, a: db.Appointment, p: _Planned, at: datetime) -> None:
    s.add(
        db.AppointmentChange(
            appointment_id=a.id,
            at=at,
            action="updated",
            old_start=a.start_at,
            new_start=p.start,
            old_status=a.status,
            new_status=p.status,
            by="import",
        )
    )
    a.patient_id, a.provider_id, a.type_id = p.patient_id, p.provider.id, p.type_id
    a.start_at, a.end_at, a.status = p.start, p.end, p.status


async def _overlaps(s: AsyncSession, live: list[_Planned]) -> list[tuple[int, str]]:
    """Live rows that overlap a live appointment on file or an earlier row, per provider:
    sorted once, then one binary search per row (linear in rows, whatever the file's order).
    An appointment the file updates is held to its new time, not its old one."""
    if not live:
        return []
    by_provider: dict[int, list[_Planned]] = defaultdict(list)
    for p in live:
        by_provider[p.provider.id].append(p)
    moving = {p.existing.id for p in live if p.existing is not None}
    lo, hi = min(p.start for p in live), max(p.end for p in live)
    on_file: dict[int, list[tuple[datetime, datetime, int]]] = defaultdict(list)
    for appointment_id, provider_id, start, end in (
        await s.execute(
            select(
                db.Appointment.id,
                db.Appointment.provider_id,
                db.Appointment.start_at,
                db.Appointment.end_at,
            ).where(
                db.Appointment.provider_id.in_(list(by_provider)),
                db.Appointment.status.in_(LIVE),
                db.Appointment.start_at < hi,
                db.Appointment.end_at > lo,
            )
        )
    ).all():
        if appointment_id not in moving:
            on_file[provider_id].append((start, end, appointment_id))
    problems: list[tuple[int, str]] = []
    for provider_id, rows in by_provider.items():
        name = rows[0].provider.name
        existing = _Intervals(on_file[provider_id])
        previous: _Planned | None = None  # the row ending last among those before
        for p in sorted(rows, key=lambda r: (r.start, r.line)):
            clash = existing.overlapping(p.start, p.end)
            if clash is not None:
                problems.append((p.line, f"overlaps appointment {clash} of {name}"))
            elif previous is not None and previous.end > p.start:
                problems.append((p.line, f"overlaps line {previous.line} ({name})"))
            if previous is None or p.end > previous.end:
                previous = p
    return problems


class _Intervals:
    """Booked intervals of one provider, for overlap queries in O(log n)."""

    def __init__(self, items: Iterable[tuple[datetime, datetime, int]]) -> None:
        self._items = sorted(items)
        self._starts = [start for start, _end, _id in self._items]
        # _latest[k]: the index of the interval ending last among the first k + 1
        self._latest: list[int] = []
        for k, (_start, end, _id) in enumerate(self._items):
            if not self._latest or end > self._items[self._latest[-1]][1]:
                self._latest.append(k)
            else:
                self._latest.append(self._latest[-1])

    def overlapping(self, start: datetime, end: datetime) -> int | None:
        k = bisect_left(self._starts, end)  # intervals starting before ``end``
        if k == 0:
            return None
        best = self._items[self._latest[k - 1]]
        return best[2] if best[1] > start else None
