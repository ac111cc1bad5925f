"""What every ``outbound-caller`` sub-command shares: one way to fail, one way to use the
store."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import typer

from ..errors import OutboundCallerError, StoreError
from ..store.appointments import Store
from ..store.database import database_url
from ..store.importer import ImportFailed
from ..store.scheduling import utc_now

T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise (1: failed, 2: bad usage)."""
    typer.echo(f"outbound-caller: {message}", err=True)
    return typer.Exit(code)


def with_store(work: Callable[[Store], Awaitable[T]], *, url: str | None = None) -> T:
    """Open the store at ``url`` (default: DATABASE_URL, or a SQLite file here), run, close."""
    if url is None:
        try:
            url = database_url(os.environ)
        except StoreError as exc:
            raise fail(str(exc), 2) from None

    async def _run() -> T:
        store = Store(url, now=utc_now)
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(_run())
    except ImportFailed:
        raise
    except OutboundCallerError as exc:
        raise fail(str(exc)) from None


def parse_day(text: str, zone: ZoneInfo, *, now: datetime, flag: str) -> date:
    """``today``, ``tomorrow``, ``yesterday`` (in ``zone``) or YYYY-MM-DD; a wrong one
    exits with code 2 and one line."""
    today = now.astimezone(zone).date()
    named = {
        "today": today,
        "tomorrow": today + timedelta(days=1),
        "yesterday": today - timedelta(days=1),
    }
    if text.strip().lower() in named:
        return named[text.strip().lower()]
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{flag} {text!r} is not a date like 2026-12-01, today or tomorrow", 2) from None
