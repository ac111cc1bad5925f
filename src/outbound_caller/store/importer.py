"""CSV import of patients and appointments: every row is checked first, every bad row is
reported with its line number, and nothing is written unless all rows are good. The rows
are written in one transaction that holds the write lock (SQLite) or the providers' row
locks (PostgreSQL) from the first check to the commit, the same guard bookings take: a
crash, a full disk or a booking in between leaves the store as it was.

patients.csv      name, phone, timezone, date_of_birth
appointments.csv  patient_phone, provider, type, start, status
"""

from __future__ import annotations

import csv
import io
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from sqlalchemy import bindparam, func, insert, literal, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import OutboundCallerError, StoreError
from ..names import name_problem
from ..phone import to_e164
from ..zones import time_zone
from . import schema as db
from .appointments import LIVE, PracticeSetup, Store
from .availability import fits

Kind = Literal["patients", "appointments"]
COLUMNS: dict[Kind, tuple[set[str], set[str]]] = {
    # required, optional
    "patients": ({"name", "phone"}, {"timezone", "date_of_birth"}),
    "appointments": ({"patient_phone", "provider", "type", "start"}, {"status"}),
}
STATUSES = {"scheduled", "confirmed", "rescheduled", "cancelled"}
MAX_BYTES = 20 * 1024 * 1024
BATCH = 5000  # rows per INSERT


class ImportFailed(OutboundCallerError):
    """The file was not imported; ``problems`` lists each reason, by line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"nothing imported; {len(problems)} problem(s)")


@dataclass(frozen=True)
class ImportResult:
    kind: Kind
    rows: int


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, row) pairs. Raises ImportFailed for unreadable files."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImportFailed([f"{path}: larger than {MAX_BYTES // 1024 // 1024} MB"])
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed([f"{path}: cannot read ({exc})"]) from None
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    reader.fieldnames = header
    rows = []
    try:
        for row in reader:
            extra = row.pop(None, None)
            if extra:
                raise ImportFailed([f"line {reader.line_num}: more values than columns"])
            rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    except csv.Error as exc:
        raise ImportFailed([f"line {reader.line_num}: {exc}"]) from None
    return header, rows


def detect_kind(header: list[str]) -> Kind:
    for kind, (required, _optional) in COLUMNS.items():
        if required <= set(header):
            return kind
    raise ImportFailed(
        [
            "line 1: the header names neither a patients file (name, phone, ...) nor an "
            "appointments file (patient_phone, provider, type, start, ...)"
        ]
    )


def check_columns(header: list[str], required: set[str], optional: set[str]) -> None:
    """The one rule for every CSV this project reads: the required columns are there, and
    nothing else (a misspelt optional column would otherwise be dropped without a word)."""
    problems = [f"line 1: missing column {c!r}" for c in sorted(required - set(header))]
    problems += [f"line 1: unknown column {c!r}" for c in header if c not in required | optional]
    if len(set(header)) != len(header):
        problems.append("line 1: a column is named twice")
    if problems:
        raise ImportFailed(problems)


async def import_csv(
    store: Store,
    path: Path,
    *,
    practice_id: int | None = None,
    now: Callable[[], datetime],
    outside_hours: bool = False,
) -> ImportResult:
    """Import ``path``; ImportFailed lists every bad row, StoreError says (in one line, with
    no row data) why the database could not take it. ``outside_hours`` accepts appointments
    outside the practice's or the provider's working hours."""
    header, rows = read_rows(path)
    kind = detect_kind(header)
    check_columns(header, *COLUMNS[kind])
    if not rows:
        raise ImportFailed([f"{path}: no rows after the header"])
    try:
        async with store.transaction() as s:
            pid = practice_id or await s.scalar(select(func.min(db.Practice.id)))
            practice = await s.get(db.Practice, pid) if pid is not None else None
            if practice is None:
                raise ImportFailed(
                    [
                        "no practice in the database; create it first "
                        "(`outbound-caller db seed-demo` creates a demo one)"
                    ]
                )
            if kind == "patients":
                await _patients(s, practice, rows, now)
            else:
                setup = await store.load_setup(s, practice.id)
                await _appointments(s, practice, setup, rows, now, outside_hours=outside_hours)
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"nothing imported: {store.failure(exc)}") from None
    return ImportResult(kind, len(rows))


async def _patients(
    s: AsyncSession,
    practice: db.Practice,
    rows: list[tuple[int, dict[str, str]]],
    now: Callable[[], datetime],
) -> None:
    known = set(
        await s.scalars(select(db.Patient.phone).where(db.Patient.practice_id == practice.id))
    )
    problems: list[str] = []
    new: list[dict[str, object]] = []
    seen: dict[str, int] = {}
    today = now().astimezone(time_zone(practice.timezone)).date()
    for line, row in rows:
        reasons = []
        name = row.get("name", "")
        if (problem := name_problem(name)) is not None:
            reasons.append(problem)
        try:
            phone = to_e164(row.get("phone", ""))
        except ValueError as exc:
            reasons.append(f"phone {exc}")
            phone = ""
        if phone and phone in known:
            reasons.append("phone is already on file for another patient")
        elif phone and phone in seen:
            reasons.append(f"phone repeats line {seen[phone]}")
        zone = row.get("timezone") or practice.timezone
        try:
            time_zone(zone)
        except ValueError as exc:
            reasons.append(f"timezone {exc}")
        dob: date | None = None
        if row.get("date_of_birth"):
            try:
                dob = date.fromisoformat(row["date_of_birth"])
            except ValueError:
                reasons.append("date_of_birth must be YYYY-MM-DD")
            else:
                if dob > today:
                    reasons.append("date_of_birth is in the future")
        if reasons:
            problems.append(f"line {line}: " + "; ".join(reasons))
            continue
        seen[phone] = line
        new.append(
            {
                "practice_id": practice.id,
                "name": name,
                "phone": phone,
                "timezone": zone,
                "date_of_birth": dob,
            }
        )
    if problems:
        raise ImportFailed(problems)
    await s.execute(insert(db.Patient), new)


@dataclass(frozen=True)
class _Planned:
    line: int
    patient_id: int
    provider: db.Provider
    type_id: int
    start: datetime
    end: datetime
    status: str


async def _appointments(
    s: AsyncSession,
    practice: db.Practice,
    setup: PracticeSetup,
    rows: list[tuple[int, dict[str, str]]],
    now: Callable[[], datetime],
    *,
    outside_hours: bool,
) -> None:
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
    hours = {pid: periods for pid, _name, periods in setup.providers}
    problems: list[tuple[int, str]] = []
    planned: list[_Planned] = []
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
        if reasons or patient_id is None or provider is None or kind is None or start is None:
            problems.append((line, "; ".join(reasons)))
            continue
        duration = timedelta(minutes=kind.minutes)
        if status in LIVE and not outside_hours:
            local = start.astimezone(setup.zone)
            day, weekday = local.date(), local.weekday()
            if day in setup.closed or not fits(
                start=start,
                duration=duration,
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
            _Planned(line, patient_id, provider, kind.id, start, start + duration, status)
        )
    problems += await _overlaps(s, [p for p in planned if p.status in LIVE])
    if problems:
        raise ImportFailed([f"line {line}: {why}" for line, why in sorted(problems)])
    at = now()
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
        }
        for p in planned
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


async def _overlaps(s: AsyncSession, live: list[_Planned]) -> list[tuple[int, str]]:
    """Live rows that overlap a live appointment on file or an earlier row, per provider:
    sorted once, then one binary search per row (linear in rows, whatever the file's order)."""
    if not live:
        return []
    by_provider: dict[int, list[_Planned]] = defaultdict(list)
    for p in live:
        by_provider[p.provider.id].append(p)
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
