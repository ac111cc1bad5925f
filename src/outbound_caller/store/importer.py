"""CSV import of patients and appointments: every row is checked first, every bad row is
reported with its line number, and nothing is written unless all rows are good.

patients.csv      name, phone, timezone, date_of_birth
appointments.csv  patient_phone, provider, type, start, status
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import OutboundCallerError
from ..phone import to_e164
from . import schema as db
from .appointments import LIVE, Store

Kind = Literal["patients", "appointments"]
COLUMNS: dict[Kind, tuple[set[str], set[str]]] = {
    # required, optional
    "patients": ({"name", "phone"}, {"timezone", "date_of_birth"}),
    "appointments": ({"patient_phone", "provider", "type", "start"}, {"status"}),
}
STATUSES = {"scheduled", "confirmed", "rescheduled", "cancelled"}
MAX_BYTES = 20 * 1024 * 1024


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


def _check_header(kind: Kind, header: list[str]) -> None:
    required, optional = COLUMNS[kind]
    problems = [f"line 1: missing column {c!r}" for c in sorted(required - set(header))]
    problems += [f"line 1: unknown column {c!r}" for c in header if c not in required | optional]
    if len(set(header)) != len(header):
        problems.append("line 1: a column is named twice")
    if problems:
        raise ImportFailed(problems)


async def import_csv(
    store: Store, path: Path, *, practice_id: int | None = None, now: Callable[[], datetime]
) -> ImportResult:
    header, rows = read_rows(path)
    kind = detect_kind(header)
    _check_header(kind, header)
    if not rows:
        raise ImportFailed([f"{path}: no rows after the header"])
    async with store.session() as s, s.begin():
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
            await _appointments(s, practice, rows, now)
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
    new: list[db.Patient] = []
    seen: dict[str, int] = {}
    today = now().astimezone(ZoneInfo(practice.timezone)).date()
    for line, row in rows:
        reasons = []
        name = row.get("name", "")
        if not name or len(name) > 200 or not name.isprintable():
            reasons.append("name must be 1 to 200 printable characters")
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
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            reasons.append(f"timezone {zone!r} is not a known time zone")
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
            db.Patient(
                practice_id=practice.id, name=name, phone=phone, timezone=zone, date_of_birth=dob
            )
        )
    if problems:
        raise ImportFailed(problems)
    s.add_all(new)


async def _appointments(
    s: AsyncSession,
    practice: db.Practice,
    rows: list[tuple[int, dict[str, str]]],
    now: Callable[[], datetime],
) -> None:
    patients = {
        p.phone: p
        for p in await s.scalars(select(db.Patient).where(db.Patient.practice_id == practice.id))
    }
    providers = {
        p.name.casefold(): p
        for p in await s.scalars(select(db.Provider).where(db.Provider.practice_id == practice.id))
    }
    types = {
        t.name.casefold(): t
        for t in await s.scalars(
            select(db.AppointmentType).where(db.AppointmentType.practice_id == practice.id)
        )
    }
    problems: list[str] = []
    planned: list[tuple[int, db.Appointment]] = []
    for line, row in rows:
        reasons = []
        try:
            patient = patients.get(to_e164(row.get("patient_phone", "")))
            if patient is None:
                reasons.append("patient_phone is not a patient on file (import patients first)")
        except ValueError as exc:
            patient = None
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
        if reasons or patient is None or provider is None or kind is None or start is None:
            problems.append(f"line {line}: " + "; ".join(reasons))
            continue
        end = start + timedelta(minutes=kind.minutes)
        if status in LIVE:
            clash = await s.scalar(
                select(db.Appointment.id)
                .where(
                    db.Appointment.provider_id == provider.id,
                    db.Appointment.status.in_(LIVE),
                    db.Appointment.start_at < end,
                    db.Appointment.end_at > start,
                )
                .limit(1)
            )
            earlier = next(
                (
                    ln
                    for ln, a in planned
                    if a.provider_id == provider.id
                    and a.status in LIVE
                    and a.start_at < end
                    and start < a.end_at
                ),
                None,
            )
            if clash is not None:
                problems.append(f"line {line}: overlaps appointment {clash} of {provider.name}")
                continue
            if earlier is not None:
                problems.append(f"line {line}: overlaps line {earlier} ({provider.name})")
                continue
        planned.append(
            (
                line,
                db.Appointment(
                    practice_id=practice.id,
                    patient_id=patient.id,
                    provider_id=provider.id,
                    type_id=kind.id,
                    start_at=start,
                    end_at=end,
                    status=status,
                ),
            )
        )
    if problems:
        raise ImportFailed(problems)
    for _, appointment in planned:
        s.add(appointment)
    await s.flush()
    at = now()
    s.add_all(
        db.AppointmentChange(
            appointment_id=a.id,
            at=at,
            action="created",
            new_start=a.start_at,
            new_status=a.status,
            by="import",
        )
        for _, a in planned
    )
