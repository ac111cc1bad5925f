"""A console on a seeded demo store, for the route and browser tests: a clock that runs from
a fixed Monday morning and can be moved on, a far end that answers every dial and reports
back as the worker does, and log-in helpers."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from starlette.testclient import TestClient

from outbound_caller.campaigns.runner import Dialer
from outbound_caller.console.app import Console, create_app
from outbound_caller.dispatch import DispatchMetadata
from outbound_caller.outcome import CallRecord, CallStatus
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import record_outcome
from outbound_caller.store.seed import seed_demo
from outbound_caller.store.users import add_user

T = TypeVar("T")
START = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)  # Monday 10:00 in the demo's New York
SECRET = "a-console-secret-for-the-tests-0123456789"
PASSWORDS = {"ann": "ann's long password", "sam": "sam's long password"}  # admin, staff


class Clock:
    """Runs at the real pace from START; ``advance`` jumps it (lock-outs, expiry)."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return START + timedelta(seconds=time.monotonic() - self._t0) + self.offset

    def advance(self, by: timedelta) -> None:
        self.offset += by


def run(url: str, work: Callable[[Store], Coroutine[Any, Any, T]]) -> T:
    """Run ``work`` on its own connection to the store (the app has its own)."""

    async def go() -> T:
        store = Store(url, now=lambda: START)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def seed(url: str) -> None:
    async def work(store: Store) -> None:
        await store.upgrade()
        await seed_demo(store, today=START.date())
        await add_user(store, "ann", PASSWORDS["ann"], "admin", now=START)
        await add_user(store, "sam", PASSWORDS["sam"], "staff", now=START)

    run(url, work)


@dataclass
class FarEnd:
    """Every dial is answered; ``status_for`` may say otherwise per number. The outcome is
    reported through the real ``record_outcome``, as the worker reports it."""

    store: Store | None = None
    dials: list[DispatchMetadata] = field(default_factory=list)
    status_for: dict[str, CallStatus] = field(default_factory=dict)
    ending: bool = True  # False: calls stay on the phone (never report back)

    def dialers(self, campaign_id: int) -> Any:
        @asynccontextmanager
        async def opened() -> AsyncIterator[Dialer]:
            yield self.dial

        return opened()

    async def dial(self, room: str, meta: DispatchMetadata) -> str:
        self.dials.append(meta)
        asyncio.get_running_loop().create_task(self._end(room, meta))
        return f"AD_{room}"

    async def _end(self, room: str, meta: DispatchMetadata) -> None:
        if not self.ending:
            return
        assert self.store is not None
        now = self.store.now()
        status = self.status_for.get(meta.phone_number, CallStatus.ANSWERED)
        record = CallRecord(started_at=now, status=status, ended_at=now + timedelta(seconds=40))
        if status is CallStatus.ANSWERED:
            record.answered_at = now
            record.hangup_reason = "completed"
        await record_outcome(
            self.store,
            room=room,
            phone=meta.phone_number,
            appointment_id=meta.appointment_id,
            record=record,
        )


def console_client(
    url: str,
    clock: Clock,
    far_end: FarEnd | None = None,
    *,
    secret: str = SECRET,
    secure: bool = False,
) -> TestClient:
    far_end = far_end or FarEnd()
    store = Store(url, now=clock)
    far_end.store = store
    console = Console(
        store, secret=secret, now=clock, dialers=far_end.dialers, secure_cookies=secure
    )
    base = "https://console.test" if secure else "http://console.test"
    return TestClient(create_app(console, close_store=True), base_url=base, follow_redirects=False)


CSRF = re.compile(r'name="csrf" value="([^"]+)"')
LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')


def log_in(client: TestClient, name: str, password: str | None = None) -> Any:
    page = client.get("/login")
    token = LOGIN_TOKEN.search(page.text)
    assert token is not None, page.text
    return client.post(
        "/login",
        data={
            "login_token": token.group(1),
            "name": name,
            "password": PASSWORDS[name] if password is None else password,
            "next": "/today",
        },
    )


def csrf_of(client: TestClient, path: str = "/today") -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found is not None, page.text
    return found.group(1)


def db_url(tmp: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp / 'console.db'}"
