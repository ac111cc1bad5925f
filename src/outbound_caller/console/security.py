"""Log-in, sessions, CSRF and roles for the console.

The session cookie holds a random token signed with ``CONSOLE_SECRET`` (so a cookie from
another secret, or a made-up one, is refused before the database is asked); the store keeps
the token's hash, its expiry and its CSRF token, so logging out or a password change ends it.
Every form carries the session's CSRF token; the log-in form, before any session, carries a
token that must match a cookie set with it (double submit). Both cookies are HttpOnly and
SameSite=Strict, and Secure when the console is served over HTTPS.
"""

from __future__ import annotations

import hmac
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from ..store.users import SESSION_FOR, Session, find_session

if TYPE_CHECKING:
    from .app import Console

SESSION_COOKIE = "oc_session"
LOGIN_COOKIE = "oc_login"
MIN_SECRET = 32


class Signer:
    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET:
            raise ValueError(f"CONSOLE_SECRET must have at least {MIN_SECRET} characters")
        self._s = URLSafeSerializer(secret, salt="outbound-caller console session")

    def sign(self, token: str) -> str:
        return self._s.dumps(token)

    def unsign(self, value: str) -> str | None:
        try:
            token = self._s.loads(value)
        except BadSignature:
            return None
        return token if isinstance(token, str) else None


def set_cookie(response: Response, name: str, value: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=secure, path="/"
    )


def session_cookie(response: Response, signed: str, *, secure: bool) -> None:
    set_cookie(
        response,
        SESSION_COOKIE,
        signed,
        secure=secure,
        max_age=int(SESSION_FOR.total_seconds()),
    )


def new_login_token() -> str:
    return secrets.token_urlsafe(24)


def same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


@dataclass
class LoginLimiter:
    """At most ``attempts`` log-in attempts per client address in ``per`` (in memory: the
    per-account lock in the store is what holds across processes)."""

    now: Callable[[], datetime]
    attempts: int = 30
    per: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        self._seen: dict[str, deque[datetime]] = {}

    def allow(self, client: str) -> bool:
        now = self.now()
        seen = self._seen.setdefault(client, deque())
        while seen and seen[0] <= now - self.per:
            seen.popleft()
        if len(seen) >= self.attempts:
            return False
        seen.append(now)
        return True


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


async def current_session(console: Console, request: Request) -> tuple[str, Session] | None:
    """(the token, the session) of a valid, unexpired session cookie; else None."""
    raw = request.cookies.get(SESSION_COOKIE)
    token = console.signer.unsign(raw) if raw else None
    if token is None:
        return None
    session = await find_session(console.store, token, now=console.now())
    return None if session is None else (token, session)


Handler = Callable[[Request], Awaitable[Response]]
Page = Callable[["Console", Request, Session], Awaitable[Response]]


def guarded(console: Console, page: Page, *, admin: bool = False) -> Handler:
    """The page for a logged-in user (with the admin role if ``admin``); a form posted to
    it must carry the session's CSRF token."""

    async def handler(request: Request) -> Response:
        found = await current_session(console, request)
        if found is None:
            if request.method == "GET":
                return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
            return PlainTextResponse("Log in first.", status_code=401)
        _token, session = found
        if admin and not session.user.admin:
            return PlainTextResponse("This page is for the practice's admins.", status_code=403)
        if request.method == "POST":
            form = await request.form()
            sent = form.get("csrf")
            if not same(sent if isinstance(sent, str) else None, session.csrf):
                return PlainTextResponse(
                    "The form had expired or did not come from this console; reload the "
                    "page and try again.",
                    status_code=403,
                )
        return await page(console, request, session)

    return handler
