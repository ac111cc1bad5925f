"""CSV import of patients and appointments: every row is checked first, every bad row is
reported with its line number, and nothing is written unless all rows are good. The rows
are written in one transaction that holds the write lock (SQLite) or the providers' row
locks (PostgreSQL) from the first check to the commit, the same guard bookings take: a
crash, a full disk or a booking in between leaves the store as it was.

patients.csv      name, phone, timezone, date_of_birth
appointments.csv  patient_phone, provider, type, start, status, external_id

What is already on file (a patient by phone, an appointment by external_id) is left alone
when the row says the same; when it says something else, ``update`` changes it (the
practice's nightly export, re-imported) and without it the row is refused.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ..errors import OutboundCallerError, StoreError
from ..names import name_problem
from ..phone import to_e164
from ..zones import time_zone
from . import schema as db
from .appointment_import import Counts, Problems, import_appointments
from .appointments import Store

Kind = Literal["patients", "appointments"]
COLUMNS: dict[Kind, tuple[set[str], set[str]]] = {
    # required, optional
    "patients": ({"name", "phone"}, {"timezone", "date_of_birth"}),
    "appointments": ({"patient_phone", "provider", "type", "start"}, {"status", "external_id"}),
}
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
    added: int
    updated: int
    unchanged: int


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The header and (line number, row) pairs. Raises ImportFailed for unreadable files."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ImportFailed([f"the file is larger than {MAX_BYTES // 1024 // 1024} MB"])
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImportFailed([f"cannot read the file: {reason}"]) from None
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
    update: bool = False,
) -> ImportResult:
    """Import ``path``; ImportFailed lists every bad row, StoreError says (in one line, with
    no row data) why the database could not take it. ``outside_hours`` accepts appointments
    outside the practice's or the provider's working hours; ``update`` changes what is on
    file where a row says otherwise."""
    header, rows = read_rows(path)
    kind = detect_kind(header)
    check_columns(header, *COLUMNS[kind])
    if not rows:
        raise ImportFailed(["no rows after the header"])
    try:
        async with store.transaction() as s:
            pid = practice_id or await s.scalar(select(func.min(db.Practice.id)))
            practice = await s.get(db.Practice, pid) if pid is not None else None
            if practice is None:
                raise ImportFailed(
                    [
                        "no practice in the database; set it up first "
                        "(outbound-caller practice apply practice.yaml)"
                    ]
                )
            if kind == "patients":
                counts = await _patients(s, practice, rows, now, update=update)
            else:
                setup = await store.load_setup(s, practice.id)
                try:
                    counts = await import_appointments(
                        s, practice, setup, rows, now, outside_hours=outside_hours, update=update
                    )
                except Problems as exc:
                    raise ImportFailed([f"line {n}: {why}" for n, why in exc.problems]) from None
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"nothing imported: {store.failure(exc)}") from None
    return ImportResult(kind, len(rows), counts.added, counts.updated, counts.unchanged)


async def _patients(
    s: AsyncSession,
    practice: db.Practice,
    rows: list[tuple[int, dict[str, str]]],
    now: Callable[[], datetime],
    *,
    update: bool,
) -> Counts:
    known: dict[str, list[db.Patient]] = defaultdict(list)
    for patient in await s.scalars(
        select(db.Patient).where(db.Patient.practice_id == practice.id).order_by(db.Patient.id)
    ):
        known[patient.phone].append(patient)
    problems: list[str] = []
    new: list[dict[str, object]] = []
    changes: list[tuple[db.Patient, dict[str, object]]] = []
    unchanged = 0
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
        if phone and phone in seen:
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
        details: dict[str, object] = {"name": name, "timezone": zone, "date_of_birth": dob}
        on_file = known.get(phone, [])
        if not reasons and on_file:
            reason = _on_file(on_file, details, update=update)
            if reason is not None:
                reasons.append(reason)
            elif not update or all(getattr(on_file[0], k) == v for k, v in details.items()):
                unchanged += 1  # the patient on file, left as it is
                seen[phone] = line
                continue
        if reasons:
            problems.append(f"line {line}: " + "; ".join(reasons))
            continue
        seen[phone] = line
        if on_file:
            changes.append((on_file[0], details))
        else:
            new.append({"practice_id": practice.id, "phone": phone, **details})
    if problems:
        raise ImportFailed(problems)
    if new:
        await s.execute(insert(db.Patient), new)
    for patient, details in changes:
        for key, value in details.items():
            setattr(patient, key, value)
    return Counts(added=len(new), updated=len(changes), unchanged=unchanged)


def _on_file(on_file: list[db.Patient], details: dict[str, object], *, update: bool) -> str | None:
    """Why a row whose phone is on file cannot be imported, or None: it is the patient on
    file (the same name), or ``update`` makes the one patient on file what it says."""
    if len(on_file) > 1:
        return f"phone is on file for {len(on_file)} patients: change them one by one"
    patient = on_file[0]
    if update:
        return None
    if str(details["name"]).casefold() != patient.name.casefold():
        return "phone is already on file for another patient (--update renames them)"
    if any(getattr(patient, k) != v for k, v in details.items() if k != "name"):
        return "the patient is on file with another timezone or date_of_birth (--update changes it)"
    return None
