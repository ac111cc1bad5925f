"""Planning a campaign: who it will call. The runner (campaign.py) does the calling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..store import schema as db
from ..store.appointments import Store
from .runner import CampaignError, Policy, stored_policy


@dataclass(frozen=True)
class DayPlan:
    campaign_id: int | None  # None: nothing to call, and no campaign was made
    added: int  # targets added now
    existing: bool  # the day's campaign was there already (it carries on)


async def plan_for_day(
    store: Store, *, practice_id: int, day: date, name: str, policy: Policy, now: datetime
) -> DayPlan:
    """The campaign over the unconfirmed (``scheduled``) appointments on ``day`` (practice
    time): one per practice and day, so planning the same day twice never calls anyone
    twice. The day's campaign, when there is one, gets only the numbers it lacks (an
    appointment booked since); with nothing to call, no campaign is made."""
    async with store.write() as s:
        # the practice's row lock: two planners of one day (PostgreSQL) take turns
        practice = await s.scalar(
            select(db.Practice).where(db.Practice.id == practice_id).with_for_update()
        )
        if practice is None:
            raise CampaignError(f"no practice with id {practice_id}")
        zone = ZoneInfo(practice.timezone)
        lo = datetime.combine(day, time(), zone)
        rows = (
            await s.execute(
                select(
                    db.Appointment.id,
                    db.Patient.id,
                    db.Patient.phone,
                    db.Patient.name,
                    db.Patient.timezone,
                )
                .join(db.Patient, db.Patient.id == db.Appointment.patient_id)
                .where(
                    db.Appointment.practice_id == practice_id,
                    db.Appointment.status == "scheduled",
                    db.Appointment.start_at >= lo,
                    db.Appointment.start_at < lo + timedelta(days=1),
                )
                .order_by(db.Appointment.start_at)
            )
        ).all()
        # one call per number: a patient with two appointments that day is called once, about
        # the first, and the worker covers the rest of the patient's day on that call
        # (call/context.py); a family sharing a phone is called about the first patient's
        # appointments only (the others would need that patient identified on the call too)
        first: dict[str, dict[str, object]] = {}
        for a, p, ph, n, tz in rows:
            first.setdefault(
                ph, {"appointment_id": a, "patient_id": p, "phone": ph, "name": n, "timezone": tz}
            )
        campaign_id = await s.scalar(
            select(db.Campaign.id)
            .where(db.Campaign.practice_id == practice_id, db.Campaign.day == day)
            .order_by(db.Campaign.id)
            .limit(1)
            .with_for_update()
        )
        if campaign_id is not None:
            targeted = set(
                await s.scalars(
                    select(db.CampaignTarget.phone).where(
                        db.CampaignTarget.campaign_id == campaign_id
                    )
                )
            )
            missing = [t for phone, t in first.items() if phone not in targeted]
            await _add_targets(s, campaign_id, missing, now)
            return DayPlan(campaign_id, len(missing), existing=True)
        if not first:
            return DayPlan(None, 0, existing=False)
        campaign_id = await _new_campaign(s, practice_id, name, policy, now, day=day)
        await _add_targets(s, campaign_id, list(first.values()), now)
        return DayPlan(campaign_id, len(first), existing=False)


async def plan_for_people(
    store: Store,
    *,
    practice_id: int,
    people: Sequence[dict[str, str]],
    name: str,
    policy: Policy,
    now: datetime,
) -> tuple[int, int]:
    """A campaign over a list of people (phone, name, timezone), e.g. from a CSV."""
    async with store.write() as s:
        if await s.get(db.Practice, practice_id) is None:
            raise CampaignError(f"no practice with id {practice_id}")
        unique: list[dict[str, object]] = []
        seen: set[str] = set()
        for person in people:
            if person["phone"] not in seen:
                seen.add(person["phone"])
                unique.append(dict(person))
        campaign_id = await _new_campaign(s, practice_id, name, policy, now)
        await _add_targets(s, campaign_id, unique, now)  # one call per number
        return campaign_id, len(unique)


@dataclass(frozen=True)
class Options:
    """A campaign's options as an operator gives them; None: not given."""

    max_in_flight: int | None = None
    calls_per_second: float | None = None
    max_attempts: int | None = None
    retry_minutes: int | None = None
    retry_voicemail: bool | None = None

    def given(self) -> dict[str, object]:
        return {name: value for name, value in asdict(self).items() if value is not None}

    def over(self, policy: Policy) -> Policy:
        """``policy`` with the options given in place of its own."""
        return replace(
            policy,
            max_in_flight=_or(self.max_in_flight, policy.max_in_flight),
            calls_per_second=_or(self.calls_per_second, policy.calls_per_second),
            max_attempts=_or(self.max_attempts, policy.max_attempts),
            retry_after=(
                policy.retry_after
                if self.retry_minutes is None
                else timedelta(minutes=self.retry_minutes)
            ),
            retry_voicemail=_or(self.retry_voicemail, policy.retry_voicemail),
        )


T = TypeVar("T")


def _or(given: T | None, kept: T) -> T:
    return kept if given is None else given


async def carry_on_with(store: Store, campaign_id: int, options: Options) -> Policy:
    """The policy campaign ``campaign_id`` carries on with: the one it was started with, the
    options given again replacing theirs from now on (so a later resume, or the console,
    keeps them too)."""
    async with store.write() as s:
        campaign = await s.get(db.Campaign, campaign_id)
        if campaign is None:
            raise CampaignError(f"no campaign {campaign_id}")
        for name, value in options.given().items():
            setattr(campaign, name, value)
        return stored_policy(campaign)


async def _new_campaign(
    s: AsyncSession,
    practice_id: int,
    name: str,
    policy: Policy,
    now: datetime,
    *,
    day: date | None = None,
) -> int:
    campaign = db.Campaign(
        practice_id=practice_id,
        name=name,
        day=day,
        created_at=now,
        max_in_flight=policy.max_in_flight,
        calls_per_second=policy.calls_per_second,
        max_attempts=policy.max_attempts,
        retry_minutes=round(policy.retry_after.total_seconds() / 60),
        retry_voicemail=policy.retry_voicemail,
    )
    s.add(campaign)
    await s.flush()
    return campaign.id


async def _add_targets(
    s: AsyncSession, campaign_id: int, targets: list[dict[str, object]], now: datetime
) -> None:
    rows = [
        {**t, "campaign_id": campaign_id, "state": "pending", "attempts": 0, "next_at": now}
        for t in targets
    ]
    for i in range(0, len(rows), 2000):
        await s.execute(insert(db.CampaignTarget), rows[i : i + 2000])
