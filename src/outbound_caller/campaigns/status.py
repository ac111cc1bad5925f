"""Where campaigns stand: every campaign in a line, and one campaign's progress with what
is still waiting and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from ..errors import OutboundCallerError
from ..store import schema as db
from ..store.appointments import Store


@dataclass(frozen=True)
class CampaignLine:
    id: int
    name: str
    day: date | None
    created_at: datetime
    state: str  # running, stopped, paused, done
    targets: int
    finished: int
    in_flight: int


@dataclass(frozen=True)
class Waiting:
    phone: str
    name: str
    attempts: int
    state: str  # pending or dialing
    next_at: datetime
    timezone: str
    last_status: str | None

    def why(self, now: datetime) -> str:
        """What the patient is waiting for, in words."""
        local = self.next_at.astimezone(ZoneInfo(self.timezone))
        if self.state == "dialing":
            return f"on the phone now (call {self.attempts})"
        if self.next_at <= now:
            return "to be called next" if self.attempts == 0 else "to be called again next"
        when = f"{local:%a %H:%M} their time"
        if self.attempts == 0:
            return f"first call at {when} (the calling window or a daily cap)"
        return f"called {self.attempts}x, last {self.last_status}: again at {when}"


def _state(row_state: str, targets: int, finished: int) -> str:
    if row_state in ("stopped", "paused"):
        return row_state
    return "done" if finished == targets else "running"


async def campaign_lines(store: Store) -> list[CampaignLine]:
    counts = (
        select(
            db.CampaignTarget.campaign_id,
            func.count().label("targets"),
            func.count().filter(db.CampaignTarget.state.in_(("done", "skipped"))).label("fin"),
            func.count().filter(db.CampaignTarget.state == "dialing").label("flight"),
        )
        .group_by(db.CampaignTarget.campaign_id)
        .subquery()
    )
    query = (
        select(db.Campaign, counts.c.targets, counts.c.fin, counts.c.flight)
        .outerjoin(counts, counts.c.campaign_id == db.Campaign.id)
        .order_by(db.Campaign.id)
    )
    async with store.read() as s:
        rows = (await s.execute(query)).all()
    out = []
    for c, targets, finished, flight in rows:
        targets, finished, flight = targets or 0, finished or 0, flight or 0
        out.append(
            CampaignLine(
                c.id,
                c.name,
                c.day,
                c.created_at,
                _state(c.state, targets, finished),
                targets,
                finished,
                flight,
            )
        )
    return out


async def campaign_waiting(store: Store, campaign_id: int) -> tuple[CampaignLine, list[Waiting]]:
    """The campaign's line and its targets not yet finished, soonest first.

    Raises:
        OutboundCallerError: there is no such campaign.
    """
    line = next((c for c in await campaign_lines(store) if c.id == campaign_id), None)
    if line is None:
        raise OutboundCallerError(f"no campaign {campaign_id}")
    async with store.read() as s:
        targets = (
            await s.scalars(
                select(db.CampaignTarget)
                .where(
                    db.CampaignTarget.campaign_id == campaign_id,
                    db.CampaignTarget.state.in_(("pending", "dialing")),
                )
                .order_by(db.CampaignTarget.state, db.CampaignTarget.next_at, db.CampaignTarget.id)
            )
        ).all()
    waiting = [
        Waiting(
            t.phone,
            t.name,
            t.attempts,
            t.state,
            t.next_at if t.next_at.tzinfo else t.next_at.replace(tzinfo=UTC),
            t.timezone,
            t.last_status,
        )
        for t in targets
    ]
    return line, waiting
