"""The day's calls, and the appointments with their call history."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..errors import AppointmentNotFound
from ..phone import mask
from ..reports import OUTCOMES, call_record, calls_csv, for_the_office
from ..store.appointments import STATUSES
from ..store.calls import CallRow, list_calls, settle_unreported
from ..store.users import Session

if TYPE_CHECKING:
    from .app import Console

REFRESH_S = 5  # while a call is on the phone, the page reloads this often
UPCOMING_DAYS = 14


def _day(text: str | None, today: date) -> date:
    try:
        return date.fromisoformat(text) if text else today
    except ValueError:
        return today


async def _calls(console: Console, request: Request) -> tuple[date, str | None, list[CallRow]]:
    zone = await console.zone()
    day = _day(request.query_params.get("date"), console.now().astimezone(zone).date())
    outcome = request.query_params.get("outcome") or None
    if outcome not in OUTCOMES:
        outcome = None
    await settle_unreported(console.store, now=console.now(), webhook=console.webhook)
    start = datetime.combine(day, time(), zone)
    rows = await list_calls(
        console.store, since=start, until=start + timedelta(days=1), outcome=outcome
    )
    return day, outcome, rows[::-1]  # newest first


async def today(console: Console, request: Request, session: Session) -> Response:
    day, outcome, rows = await _calls(console, request)
    zone = await console.zone()
    await console.audit(request, session, "viewed", f"calls on {day}")
    calls = [
        {
            "row": r,
            "placed": r.placed_at.astimezone(zone),
            "phone": mask(r.phone),
            "office": for_the_office(r, zone),
        }
        for r in rows
    ]
    live = any(r.status == "dialing" for r in rows)
    return console.render(
        request,
        "today.html",
        session,
        day=day,
        outcome=outcome or "",
        outcomes=OUTCOMES,
        calls=calls,
        zone=zone,
        refresh=REFRESH_S if live else None,
    )


async def today_csv(console: Console, request: Request, session: Session) -> Response:
    day, _outcome, rows = await _calls(console, request)
    zone = await console.zone()
    await console.audit(request, session, "exported", f"calls on {day} (CSV)")
    body = calls_csv([call_record(r, zone, full=True) for r in rows])
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="calls-{day}.csv"'},
    )


async def appointments(console: Console, request: Request, session: Session) -> Response:
    zone = await console.zone()
    first = _day(request.query_params.get("date"), console.now().astimezone(zone).date())
    status = request.query_params.get("status") or None
    if status not in STATUSES:
        status = None
    rows = []
    for offset in range(UPCOMING_DAYS):
        rows += await console.store.appointments(
            day=first + timedelta(days=offset), status=status, zone=zone
        )
    await console.audit(request, session, "viewed", f"appointments from {first}")
    return console.render(
        request,
        "appointments.html",
        session,
        first=first,
        status=status or "",
        statuses=STATUSES,
        appointments=[(a, a.start.astimezone(zone)) for a in rows],
        days=UPCOMING_DAYS,
    )


async def appointment(console: Console, request: Request, session: Session) -> Response:
    appointment_id = int(request.path_params["id"])
    zone = await console.zone()
    try:
        row = await console.store.appointment(appointment_id)
    except AppointmentNotFound:
        return console.render(
            request, "missing.html", session, 404, what=f"appointment {appointment_id}"
        )
    history = await console.store.history(appointment_id)
    calls = [
        (c, c.placed_at.astimezone(zone), for_the_office(c, zone))
        for c in await list_calls(console.store, phone=row.patient_phone)
        if c.appointment_id in (None, appointment_id)
    ][::-1]
    await console.audit(request, session, "viewed", f"appointment {appointment_id}")
    return console.render(
        request,
        "appointment.html",
        session,
        a=row,
        start=row.start.astimezone(zone),
        history=[(h, h.at.astimezone(zone)) for h in history],
        calls=calls,
        zone=zone,
    )
