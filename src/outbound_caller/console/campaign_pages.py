"""Campaigns: start one for a day, watch it, pause and resume it."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..campaigns.plan import plan_for_day
from ..campaigns.runner import Policy, summarize
from ..campaigns.status import campaign_lines, campaign_waiting
from ..errors import OutboundCallerError
from ..phone import mask
from ..store.practices import practice_summaries
from ..store.users import Session

if TYPE_CHECKING:
    from .app import Console

REFRESH_S = 2
# (form field, label, lowest, highest, default)
LIMITS: dict[str, tuple[str, float, float, float]] = {
    "max_in_flight": ("Calls at once", 1, 100, 2),
    "rate": ("New calls per second", 0.01, 50, 1.0),
    "max_attempts": ("Calls to one patient, at most", 1, 10, 3),
    "retry_minutes": ("Minutes before calling again", 1, 10_080, 120),
}


def _policy(form: FormData) -> tuple[Policy | None, list[str]]:
    values: dict[str, float] = {}
    problems = []
    for field, (label, lo, hi, default) in LIMITS.items():
        text = str(form.get(field) or default).strip()
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{label}: {text!r} is not a number")
            continue
        if not lo <= value <= hi or (field != "rate" and value != int(value)):
            kind = "a number" if field == "rate" else "a whole number"
            problems.append(f"{label}: give {kind} from {lo:g} to {hi:g}")
            continue
        values[field] = value
    if problems:
        return None, problems
    return (
        Policy(
            max_in_flight=int(values["max_in_flight"]),
            calls_per_second=values["rate"],
            max_attempts=int(values["max_attempts"]),
            retry_after=timedelta(minutes=int(values["retry_minutes"])),
            retry_voicemail=form.get("retry_voicemail") == "on",
        ),
        [],
    )


async def _list(
    console: Console,
    request: Request,
    session: Session,
    *,
    problems: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    zone = await console.zone()
    tomorrow = console.now().astimezone(zone).date() + timedelta(days=1)
    lines = await campaign_lines(console.store)
    return console.render(
        request,
        "campaigns.html",
        session,
        status,
        campaigns=lines[::-1],
        tomorrow=tomorrow,
        limits=LIMITS,
        problems=problems or [],
        form=form or {},
    )


async def campaigns(console: Console, request: Request, session: Session) -> Response:
    return await _list(console, request, session)


async def start(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    sent = {k: str(v) for k, v in form.items() if k != "csrf"}
    policy, problems = _policy(form)
    try:
        day = date.fromisoformat(str(form.get("date", "")))
    except ValueError:
        problems.insert(0, "Day: give a date")
    if policy is None or problems:
        return await _list(console, request, session, problems=problems, form=sent, status=400)
    practices = await practice_summaries(console.store)
    if not practices:
        return await _list(
            console, request, session, problems=["Set up the practice first."], status=400
        )
    try:
        planned = await plan_for_day(
            console.store,
            practice_id=practices[0].id,
            day=day,
            name=f"appointments {day}",
            policy=policy,
            now=console.now(),
        )
    except OutboundCallerError as exc:
        return await _list(console, request, session, problems=[str(exc)], status=400)
    if planned.campaign_id is None:
        return await _list(
            console,
            request,
            session,
            problems=[f"Nothing to call on {day}: no unconfirmed appointments."],
            status=400,
        )
    await console.audit(request, session, "started", f"campaign {planned.campaign_id} ({day})")
    await console.runners.start(planned.campaign_id)
    return RedirectResponse(f"/campaigns/{planned.campaign_id}", status_code=303)


async def campaign(console: Console, request: Request, session: Session) -> Response:
    campaign_id = int(request.path_params["id"])
    try:
        line, waiting = await campaign_waiting(console.store, campaign_id)
    except OutboundCallerError:
        return console.render(request, "missing.html", session, 404, what=f"campaign {campaign_id}")
    summary = await summarize(console.store, campaign_id)
    now = console.now()
    here = console.runners.running(campaign_id)
    await console.audit(request, session, "viewed", f"campaign {campaign_id}")
    return console.render(
        request,
        "campaign.html",
        session,
        c=line,
        rows=summary.rows(),
        waiting=[(mask(w.phone), w.name, w.why(now)) for w in waiting],
        here=here,
        problem=console.runners.problems.get(campaign_id),
        refresh=REFRESH_S if line.state == "running" else None,
    )


async def pause(console: Console, request: Request, session: Session) -> Response:
    campaign_id = int(request.path_params["id"])
    if await console.runners.pause(campaign_id):
        await console.audit(request, session, "paused", f"campaign {campaign_id}")
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


async def resume(console: Console, request: Request, session: Session) -> Response:
    campaign_id = int(request.path_params["id"])
    lines = {c.id: c for c in await campaign_lines(console.store)}
    line = lines.get(campaign_id)
    if line is not None and line.state != "done":
        await console.audit(request, session, "resumed", f"campaign {campaign_id}")
        await console.runners.start(campaign_id)
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)
