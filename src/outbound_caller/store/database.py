"""Where the store lives: ``DATABASE_URL`` (or the default SQLite file) and how SQLite
connections are set up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import StoreError

DEFAULT_SQLITE_FILE = "outbound-caller.db"
DEMO_SQLITE_FILE = "outbound-caller-demo.db"  # the demo's own: it moves appointments
BUSY_TIMEOUT_S = 30  # how long a SQLite connection waits for another process's write lock

# aiosqlite logs every statement at DEBUG with its parameters (phone numbers, names, dates
# of birth), and dev mode turns DEBUG on for everything: keep its logger above that, as
# SQLAlchemy does for its own.
logging.getLogger("aiosqlite").setLevel(logging.INFO)


class _NotACancellation(logging.Filter):
    """Drops the pool's "Exception during reset or similar" record when the exception is a
    cancellation (Ctrl-C on a command, a job shut down mid-query): the pool discards that
    connection itself and nothing is lost, but the record's traceback would reach the user."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


_NOT_A_CANCELLATION = _NotACancellation()


def quiet_cancelled_resets(engine: AsyncEngine) -> None:
    """Keep ``engine``'s pool from logging a cancelled connection reset as an error."""
    pool = type(engine.sync_engine.pool)
    logging.getLogger(f"{pool.__module__}.{pool.__name__}").addFilter(_NOT_A_CANCELLATION)


def store_configured(env: Mapping[str, str]) -> bool:
    """A store is set up when DATABASE_URL names one or the default SQLite file exists here."""
    return bool(env.get("DATABASE_URL", "").strip()) or Path(DEFAULT_SQLITE_FILE).exists()


def database_url(env: Mapping[str, str]) -> str:
    """``DATABASE_URL`` as an async SQLAlchemy URL; unset means a SQLite file here."""
    raw = (env.get("DATABASE_URL") or "").strip()
    if not raw:
        return f"sqlite+aiosqlite:///{DEFAULT_SQLITE_FILE}"
    for prefix, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite:///", "sqlite+aiosqlite:///"),
    ):
        if raw.startswith(prefix):
            return driver + raw[len(prefix) :]
    if raw.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite:///")):
        return raw
    raise StoreError(
        "DATABASE_URL must start with postgresql:// or sqlite:/// "
        "(leave it unset for a SQLite file in the working directory)"
    )


def redact(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def short_reason(exc: BaseException) -> str:
    """The driver's own words for ``exc``, one line, without the statement or its
    parameters that SQLAlchemy appends (names, phone numbers)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    line = text.splitlines()[0] if text else ""
    line = line.split("[SQL:", 1)[0].split("[parameters:", 1)[0].strip()
    return line or type(orig).__name__


def describe_failure(exc: BaseException, url: str) -> str:
    """What went wrong with the database, in one line that carries no row data."""
    text = short_reason(exc)
    if "database is locked" in text or "database table is locked" in text:
        return f"the database is locked by another process (waited {BUSY_TIMEOUT_S} s)"
    if isinstance(exc, OSError) or getattr(exc, "connection_invalidated", False):
        return f"lost the connection to the database at {redact(url)}"
    return f"{text} (database at {redact(url)})"


def create_private(url: str) -> None:
    """Create a SQLite database file readable by its owner only (0600) before SQLite does
    (it would follow the umask, 0644 for most): it holds names, phones and dates of birth.
    SQLite gives its -wal and -shm files the database file's permissions."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.parent.is_dir() and not path.exists():  # a missing folder: SQLite says so
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def sqlite_tuning(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN itself (below)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Any) -> None:
        # A write transaction takes the database write lock before it reads anything.
        # A read runs in autocommit: each lookup is one SELECT, atomic on its own.
        if conn.get_execution_options().get("write", False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
