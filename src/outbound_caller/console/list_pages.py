"""The do-not-call list, and importing the practice's patients and appointments."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ..errors import OutboundCallerError
from ..phone import mask, region_of, to_e164
from ..store.calls import dnc_add as add_number
from ..store.calls import dnc_list
from ..store.calls import dnc_remove as remove_number
from ..store.importer import ImportFailed, import_csv
from ..store.practices import practice_summaries
from ..store.users import Session

if TYPE_CHECKING:
    from .app import Console


async def _dnc(
    console: Console,
    request: Request,
    session: Session,
    *,
    notice: str = "",
    problem: str = "",
    status: int = 200,
) -> Response:
    query = request.query_params.get("q", "").strip()
    digits = "".join(c for c in query if c.isdigit())
    rows = await dnc_list(console.store)
    if query:
        rows = [
            r
            for r in rows
            if (digits and digits in r.phone) or query.lower() in (r.reason or "").lower()
        ]
    zone = await console.zone()
    await console.audit(request, session, "viewed", "do-not-call list")
    return console.render(
        request,
        "do_not_call.html",
        session,
        status,
        rows=[(r, r.added_at.astimezone(zone)) for r in rows],
        q=query,
        notice=notice,
        problem=problem,
    )


async def do_not_call(console: Console, request: Request, session: Session) -> Response:
    return await _dnc(console, request, session)


async def dnc_add(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    practices = await practice_summaries(console.store)
    region = region_of(practices[0].callback_number) if practices else None
    try:
        phone = to_e164(str(form.get("phone", "")), default_region=region)
    except ValueError as exc:
        return await _dnc(console, request, session, problem=f"Not added: {exc}.", status=400)
    reason = str(form.get("reason", "")).strip()[:200]
    added = await add_number(
        console.store, phone, reason=reason, by=session.user.name, at=console.now()
    )
    await console.audit(request, session, "changed", f"do-not-call add {mask(phone)}")
    notice = f"{phone} will not be called." if added else f"{phone} was on the list already."
    return await _dnc(console, request, session, notice=notice)


async def dnc_remove(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    phone = str(form.get("phone", ""))
    removed = await remove_number(console.store, phone)
    await console.audit(request, session, "changed", f"do-not-call remove {mask(phone)}")
    notice = f"{phone} may be called again." if removed else f"{phone} was not on the list."
    return await _dnc(console, request, session, notice=notice)


async def import_page(console: Console, request: Request, session: Session) -> Response:
    return console.render(request, "import.html", session, problems=[], result=None)


async def import_file(console: Console, request: Request, session: Session) -> Response:
    form = await request.form()
    upload = form.get("file")
    update = form.get("update") == "on"
    if not isinstance(upload, UploadFile) or not upload.filename:
        return console.render(
            request, "import.html", session, 400, problems=["Choose a CSV file."], result=None
        )
    name = Path(upload.filename).name
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "upload.csv"
        path.write_bytes(await upload.read())
        try:
            result = await import_csv(console.store, path, now=console.now, update=update)
        except ImportFailed as exc:
            await console.audit(request, session, "refused", f"import {name[:80]}")
            return console.render(
                request, "import.html", session, 400, problems=exc.problems, result=None, name=name
            )
        except OutboundCallerError as exc:
            return console.render(
                request, "import.html", session, 400, problems=[str(exc)], result=None, name=name
            )
    await console.audit(request, session, "changed", f"import {name[:80]}: {result.kind}")
    return console.render(request, "import.html", session, problems=[], result=result, name=name)
