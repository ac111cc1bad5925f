"""The console's audit log: who viewed or changed what, and when (append-only)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from . import schema as db
from .appointments import Store


async def audit(
    store: Store, *, user: str, action: str, what: str, at: datetime, client: str = ""
) -> None:
    async with store.write() as s:
        s.add(db.AuditEntry(at=at, user=user, action=action, what=what[:300], client=client[:64]))


async def audit_entries(store: Store, *, limit: int = 200) -> list[db.AuditEntry]:
    async with store.read() as s:
        rows = await s.scalars(select(db.AuditEntry).order_by(db.AuditEntry.id.desc()).limit(limit))
        return list(rows.all())
