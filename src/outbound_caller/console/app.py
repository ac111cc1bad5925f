"""The console's application: one :class:`Console` holding the store, the clock and the
campaign runners, and the Starlette app that routes to its pages."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import OutboundCallerError
from ..store.appointments import Store
from ..store.audit import audit
from ..store.practices import practice_summaries
from ..store.users import Session
from . import admin_pages, call_pages, campaign_pages, list_pages, login
from .runners import CampaignRunners, DialerFactory
from .security import LoginLimiter, Signer, client_of, guarded

logger = logging.getLogger("outbound_caller.console")
HERE = Path(__file__).parent
HEADERS = [
    (b"content-security-policy", b"default-src 'self'; frame-ancestors 'none'; form-action 'self'"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class Console:
    def __init__(
        self,
        store: Store,
        *,
        secret: str,
        now: Callable[[], datetime],
        dialers: DialerFactory,
        secure_cookies: bool = False,
        webhook: bool = False,
    ) -> None:
        self.store = store
        self.signer = Signer(secret)
        self.now = now
        self.secure = secure_cookies
        self.limiter = LoginLimiter(now)
        self.webhook = webhook  # calls it settles queue their webhook events
        self.runners = CampaignRunners(store, dialers, now, webhook=webhook)
        self.templates = Jinja2Templates(directory=HERE / "templates")

    async def zone(self) -> ZoneInfo:
        practices = await practice_summaries(self.store)
        return ZoneInfo(practices[0].timezone if practices else "UTC")

    async def audit(self, request: Request, session: Session, action: str, what: str) -> None:
        await audit(
            self.store,
            user=session.user.name,
            action=action,
            what=what,
            at=self.now(),
            client=client_of(request),
        )

    def render(
        self,
        request: Request,
        template: str,
        session: Session | None,
        code: int = 200,
        **ctx: Any,
    ) -> Response:
        context = {
            "user": session.user if session else None,
            "csrf": session.csrf if session else "",
        }
        return self.templates.TemplateResponse(
            request, template, {**context, **ctx}, status_code=code
        )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(console: Console, *, close_store: bool = False) -> Starlette:
    """The app; ``close_store``: it owns the store and closes it when it stops."""

    async def health(request: Request) -> Response:
        try:
            await console.store.check()
        except OutboundCallerError:
            return PlainTextResponse("the store is not reachable or not migrated", 503)
        return PlainTextResponse("ok")

    async def home(console: Console, request: Request, session: Session) -> Response:
        return RedirectResponse("/today", status_code=303)

    async def login_page(request: Request) -> Response:
        return await login.login_page(console, request)

    async def log_in(request: Request) -> Response:
        return await login.log_in(console, request)

    def page(handler: Any, *, admin: bool = False) -> Any:
        return guarded(console, handler, admin=admin)

    routes = [
        Route("/health", health),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", log_in, methods=["POST"]),
        Route("/logout", page(login.log_out), methods=["POST"]),
        Route("/", page(home)),
        Route("/today", page(call_pages.today)),
        Route("/today.csv", page(call_pages.today_csv)),
        Route("/appointments", page(call_pages.appointments)),
        Route("/appointments/{id:int}", page(call_pages.appointment)),
        Route("/campaigns", page(campaign_pages.campaigns), methods=["GET"]),
        Route("/campaigns", page(campaign_pages.start), methods=["POST"]),
        Route("/campaigns/{id:int}", page(campaign_pages.campaign)),
        Route("/campaigns/{id:int}/pause", page(campaign_pages.pause), methods=["POST"]),
        Route("/campaigns/{id:int}/resume", page(campaign_pages.resume), methods=["POST"]),
        Route("/do-not-call", page(list_pages.do_not_call), methods=["GET"]),
        Route("/do-not-call", page(list_pages.dnc_add), methods=["POST"]),
        Route("/do-not-call/remove", page(list_pages.dnc_remove, admin=True), methods=["POST"]),
        Route("/import", page(list_pages.import_page, admin=True), methods=["GET"]),
        Route("/import", page(list_pages.import_file, admin=True), methods=["POST"]),
        Route("/practice", page(admin_pages.practice), methods=["GET"]),
        Route("/practice", page(admin_pages.apply_practice, admin=True), methods=["POST"]),
        Route("/webhooks", page(admin_pages.webhooks, admin=True)),
        Route("/users", page(admin_pages.users, admin=True)),
        Route("/audit", page(admin_pages.audit_log, admin=True)),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.runners.resume_running()
        try:
            yield
        finally:
            await console.runners.stop()
            if close_store:
                await console.store.close()

    async def unavailable(request: Request, exc: Exception) -> Response:
        logger.error("%s failed: %s", request.url.path, exc)
        return PlainTextResponse(f"Not available right now: {exc}", status_code=503)

    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        lifespan=lifespan,
        exception_handlers={OutboundCallerError: unavailable},
    )
