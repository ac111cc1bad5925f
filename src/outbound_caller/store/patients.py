"""The practice's patients, as the front desk looks them up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_, select

from ..errors import StoreError
from ..phone import to_e164
from . import schema as db
from .appointments import AppointmentRow, Store, appointment_row


@dataclass(frozen=True)
class PatientRow:
    id: int
    name: str
    phone: str
    timezone: str
    date_of_birth: date | None
    appointments: int  # live ones


async def find_patients(store: Store, search: str | None = None) -> list[PatientRow]:
    """Patients by name, or those whose name or phone contains ``search``."""
    live = (
        select(func.count())
        .where(db.Appointment.patient_id == db.Patient.id, db.Appointment.status != "cancelled")
        .correlate(db.Patient)
        .scalar_subquery()
    )
    query = select(db.Patient, live).order_by(db.Patient.name, db.Patient.id)
    if search:
        digits = "".join(ch for ch in search if ch.isdigit())
        conditions = [func.lower(db.Patient.name).contains(search.strip().lower())]
        if digits:
            conditions.append(db.Patient.phone.contains(digits))
        query = query.where(or_(*conditions))
    async with store.read() as s:
        return [
            PatientRow(p.id, p.name, p.phone, p.timezone, p.date_of_birth, int(n))
            for p, n in (await s.execute(query)).all()
        ]


async def patient_record(store: Store, key: str) -> tuple[PatientRow, list[AppointmentRow]]:
    """One patient, by id or by phone, with all their appointments, oldest first.

    Raises:
        StoreError: no such patient, or several share that phone.
    """
    async with store.read() as s:
        if key.strip().isdigit() and not key.strip().startswith("+"):
            found = [p for p in [await s.get(db.Patient, int(key))] if p is not None]
        else:
            try:
                phone = to_e164(key)
            except ValueError as exc:
                raise StoreError(f"{key!r}: give a patient id or a phone number ({exc})") from None
            found = list(await s.scalars(select(db.Patient).where(db.Patient.phone == phone)))
        if not found:
            raise StoreError(f"no patient {key!r} on file")
        if len(found) > 1:
            ids = ", ".join(str(p.id) for p in found)
            raise StoreError(f"several patients share that phone (ids {ids}): give an id")
        p = found[0]
        appointments = [
            appointment_row(a)
            for a in await s.scalars(
                select(db.Appointment)
                .where(db.Appointment.patient_id == p.id)
                .order_by(db.Appointment.start_at, db.Appointment.id)
            )
        ]
        live = sum(a.status != "cancelled" for a in appointments)
        return PatientRow(p.id, p.name, p.phone, p.timezone, p.date_of_birth, live), appointments
