"""The practice's set-up, and the admins' pages: users, webhook deliveries, the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from ..errors import OutboundCallerError
from ..store.audit import audit_entries
from ..store.outbox import recent
from ..store.practice_spec import WEEKDAYS, SpecError, dump_spec, parse_spec, show_periods
from ..store.practices import SetUpRefused, apply_spec, load_spec
from ..store.users import Session, list_users

if TYPE_CHECKING:
    from .app import Console


async def _practice(
    console: Console,
    request: Request,
    session: Session,
    *,
    text: str | None = None,
    problems: list[str] | None = None,
    notice: str = "",
    status: int = 200,
) -> Response:
    try:
        spec = await load_spec(console.store)
    except OutboundCallerError as exc:
        spec, problems = None, [*(problems or []), str(exc)]
    week = []
    if spec is not None:
        week = [
            (day.title(), show_periods(spec.practice.hours.get(day, [])) or "closed")  # type: ignore[call-overload]
            for day in WEEKDAYS
        ]
    return console.render(
        request,
        "practice.html",
        session,
        status,
        spec=spec,
        week=week,
        window=show_periods([spec.practice.call_window]) if spec else "",
        providers=[
            (p, "; ".join(f"{d[:3]} {show_periods(h)}" for d, h in p.hours.items()))
            for p in (spec.providers if spec else [])
        ],
        text=text if text is not None else (dump_spec(spec) if spec else ""),
        problems=problems or [],
        notice=notice,
    )


async def practice(console: Console, request: Request, session: Session) -> Response:
    return await _practice(console, request, session)


async def apply_practice(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    text = str(form.get("spec", ""))
    try:
        applied = await apply_spec(console.store, parse_spec(text))
    except SpecError as exc:
        return await _practice(
            console, request, session, text=text, problems=exc.problems, status=400
        )
    except (SetUpRefused, OutboundCallerError) as exc:
        return await _practice(
            console, request, session, text=text, problems=[str(exc)], status=400
        )
    if not applied.changed:
        return await _practice(console, request, session, notice="Nothing changed.")
    await console.audit(request, session, "changed", "practice set-up")
    return await _practice(console, request, session, notice="The practice is updated.")


async def webhooks(console: Console, request: Request, session: Session) -> Response:
    zone = await console.zone()
    events = [
        (
            e,
            e.created_at.astimezone(zone),
            e.delivered_at.astimezone(zone) if e.delivered_at else None,
        )
        for e in await recent(console.store, limit=100)
    ]
    return console.render(request, "webhooks.html", session, events=events)


async def users(console: Console, request: Request, session: Session) -> Response:
    zone = await console.zone()
    now = console.now()
    rows = [
        (u, u.locked_until.astimezone(zone) if u.locked_until and u.locked_until > now else None)
        for u in await list_users(console.store)
    ]
    return console.render(request, "users.html", session, users=rows)


async def audit_log(console: Console, request: Request, session: Session) -> Response:
    zone = await console.zone()
    entries = [(e, e.at.astimezone(zone)) for e in await audit_entries(console.store, limit=500)]
    return console.render(request, "audit.html", session, entries=entries)
