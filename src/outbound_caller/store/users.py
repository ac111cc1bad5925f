"""The web console's accounts and sessions: argon2id password hashes, a lock after too many
wrong passwords in a row, and sessions that expire and can be revoked (the browser holds a
random token; the table holds only its SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select

from ..errors import OutboundCallerError
from . import schema as db
from .appointments import Store

Role = Literal["staff", "admin"]
ROLES: tuple[Role, ...] = ("staff", "admin")
LOCK_AFTER = 20  # wrong passwords in a row
LOCK_FOR = timedelta(minutes=15)
SESSION_FOR = timedelta(hours=8)
MIN_PASSWORD = 12

_hasher = PasswordHasher()
# verified against for unknown names, so a wrong name takes as long as a wrong password
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class UserError(OutboundCallerError):
    """An account could not be created or changed; the message says why."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role

    @property
    def admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    locked_until: datetime | None = None  # set when the account is (now) locked


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str
    expires_at: datetime


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters"
    return None


def _user(row: db.ConsoleUser) -> User:
    return User(row.id, row.name, row.role)  # type: ignore[arg-type]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def add_user(store: Store, name: str, password: str, role: str, *, now: datetime) -> User:
    name = name.strip()
    if not name or len(name) > 100 or any(c.isspace() for c in name):
        raise UserError("the user name must be 1 to 100 characters without spaces")
    if role not in ROLES:
        raise UserError(f"the role must be one of: {', '.join(ROLES)}")
    if (why := password_problem(password)) is not None:
        raise UserError(why)
    async with store.write() as s:
        if await s.scalar(select(db.ConsoleUser.id).where(db.ConsoleUser.name == name)):
            raise UserError(f"there is a user {name!r} already")
        row = db.ConsoleUser(
            name=name, password_hash=_hasher.hash(password), role=role, created_at=now
        )
        s.add(row)
        await s.flush()
        return _user(row)


async def set_password(store: Store, name: str, password: str) -> None:
    """A new password; it also unlocks the account and ends its sessions."""
    if (why := password_problem(password)) is not None:
        raise UserError(why)
    async with store.write() as s:
        row = await s.scalar(select(db.ConsoleUser).where(db.ConsoleUser.name == name))
        if row is None:
            raise UserError(f"no user {name!r}")
        row.password_hash = _hasher.hash(password)
        row.failed_logins = 0
        row.locked_until = None
        await s.execute(delete(db.ConsoleSession).where(db.ConsoleSession.user_id == row.id))


async def list_users(store: Store) -> list[db.ConsoleUser]:
    async with store.read() as s:
        return list((await s.scalars(select(db.ConsoleUser).order_by(db.ConsoleUser.name))).all())


async def check_login(store: Store, name: str, password: str, *, now: datetime) -> LoginResult:
    """The user, if the password is theirs and the account is not locked. The LOCK_AFTER-th
    wrong password in a row locks it for LOCK_FOR; a right one resets the count."""
    async with store.write() as s:
        row = await s.scalar(select(db.ConsoleUser).where(db.ConsoleUser.name == name))
        if row is None:
            _verify(_DUMMY, password)
            return LoginResult(None)
        if row.locked_until is not None and row.locked_until > now:
            return LoginResult(None, row.locked_until)
        if _verify(row.password_hash, password):
            row.failed_logins = 0
            row.locked_until = None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            return LoginResult(_user(row))
        row.failed_logins += 1
        if row.failed_logins >= LOCK_AFTER:
            row.failed_logins = 0
            row.locked_until = now + LOCK_FOR
            return LoginResult(None, row.locked_until)
        return LoginResult(None)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def start_session(store: Store, user: User, *, now: datetime) -> tuple[str, Session]:
    """(the token for the cookie, the session)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = now + SESSION_FOR
    async with store.write() as s:
        await s.execute(delete(db.ConsoleSession).where(db.ConsoleSession.expires_at <= now))
        s.add(
            db.ConsoleSession(
                token_hash=_digest(token),
                user_id=user.id,
                csrf=csrf,
                created_at=now,
                expires_at=expires,
            )
        )
    return token, Session(user, csrf, expires)


async def find_session(store: Store, token: str, *, now: datetime) -> Session | None:
    async with store.read() as s:
        found = (
            await s.execute(
                select(db.ConsoleSession, db.ConsoleUser)
                .join(db.ConsoleUser, db.ConsoleUser.id == db.ConsoleSession.user_id)
                .where(db.ConsoleSession.token_hash == _digest(token))
            )
        ).first()
    if found is None:
        return None
    session, user = found
    if session.expires_at <= now:
        return None
    return Session(_user(user), session.csrf, session.expires_at)


async def end_session(store: Store, token: str) -> None:
    async with store.write() as s:
        await s.execute(
            delete(db.ConsoleSession).where(db.ConsoleSession.token_hash == _digest(token))
        )
