"""Log-in and log-out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..store.audit import audit
from ..store.users import Session, check_login, end_session, start_session
from .security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    client_of,
    current_session,
    new_login_token,
    same,
    session_cookie,
    set_cookie,
)

if TYPE_CHECKING:
    from .app import Console

WRONG = "That user name and password do not match."


def _next(value: object) -> str:
    """Only a path on this console (never another site) to go on to after logging in."""
    text = value if isinstance(value, str) else ""
    safe = text.startswith("/") and not text.startswith("//") and "\\" not in text
    return text if safe else "/today"


def _form(console: Console, request: Request, *, error: str = "", status: int = 200) -> Response:
    token = new_login_token()
    response = console.render(
        request,
        "login.html",
        None,
        status,
        login_token=token,
        error=error,
        next=_next(request.query_params.get("next")),
    )
    set_cookie(response, LOGIN_COOKIE, token, secure=console.secure, max_age=3600)
    return response


async def login_page(console: Console, request: Request) -> Response:
    if await current_session(console, request) is not None:
        return RedirectResponse("/today", status_code=303)
    return _form(console, request)


async def log_in(console: Console, request: Request) -> Response:
    form = await request.form()
    sent = form.get("login_token")
    if not same(sent if isinstance(sent, str) else None, request.cookies.get(LOGIN_COOKIE)):
        return _form(console, request, error="The form had expired; try again.", status=403)
    client = client_of(request)
    if not console.limiter.allow(client):
        return _form(console, request, error="Too many attempts; wait a few minutes.", status=429)
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    now = console.now()
    result = await check_login(console.store, name, password, now=now)
    if result.user is None:
        who = name[:100] or "(no name)"
        if result.locked_until is not None:
            await audit(
                console.store, user=who, action="locked", what="log-in", at=now, client=client
            )
            zone = await console.zone()
            until = result.locked_until.astimezone(zone)
            error = f"Too many wrong passwords: this account is locked until {until:%H:%M}."
            return _form(console, request, error=error, status=403)
        await audit(console.store, user=who, action="refused", what="log-in", at=now, client=client)
        return _form(console, request, error=WRONG, status=401)
    token, _session = await start_session(console.store, result.user, now=now)
    await audit(
        console.store, user=result.user.name, action="login", what="log-in", at=now, client=client
    )
    response = RedirectResponse(_next(form.get("next")), status_code=303)
    session_cookie(response, console.signer.sign(token), secure=console.secure)
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


async def log_out(console: Console, request: Request, session: Session) -> Response:
    found = await current_session(console, request)
    if found is not None:
        await end_session(console.store, found[0])
    await console.audit(request, session, "logout", "log-out")
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
