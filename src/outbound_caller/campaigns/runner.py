"""Campaigns: call many patients safely.

All state lives in the store, so a runner can be killed and started again, and several
runners can share one campaign on PostgreSQL: a dial is claimed in one transaction that
locks the campaign row (``SELECT ... FOR UPDATE``; the write lock on SQLite), checks the
do-not-call list, the calling window, per-patient caps, the in-flight limit and the rate,
and records the call before anything is dialed. A claimed dial is never dialed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..dispatch import DispatchMetadata
from ..errors import CannotDial, OutboundCallerError
from ..outcome import CallStatus
from ..store import schema as db
from ..store.appointments import Store
from ..store.calls import (
    GIVE_UP_AFTER,
    NEVER_RANG,
    NOT_DISPATCHED,
    TIMEOUT,
    is_blocked,
    settle_unreported,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Sleep = Callable[[float], Awaitable[None]]
Dialer = Callable[[str, DispatchMetadata], Awaitable[str]]
"""Places one call: (room, metadata) -> dispatch id. Raises OutboundCallerError when that
call failed (it is retried later, as a failed call), CannotDial when no call can be placed
(the run stops)."""

RETRY = {"no_answer", "busy", "failed", "timeout"}
# the trunk refused the call: stop, no patient is to blame
TRUNK_FAILED = CallStatus.TRUNK_FAILED.value
TRUNK_STOP_REASON = (
    "the SIP trunk refused a call (its credentials or TLS): no more calls were placed; fix "
    "the trunk (outbound-caller trunk check), then carry on with --resume {id}"
)
PAUSED = "paused"
PAUSED_REASON = "paused; carry on with the console's Resume or --resume {id}"
END_REASONS_NEVER = {"do_not_call", "wrong_number"}
CALLBACK = "callback_requested"


@dataclass(frozen=True)
class Policy:
    max_in_flight: int = 2
    calls_per_second: float = 1.0
    max_per_day: int = 1
    max_per_week: int = 3
    max_attempts: int = 3
    retry_after: timedelta = timedelta(hours=2)  # doubled after each further attempt
    retry_voicemail: bool = False
    call_timeout: timedelta = GIVE_UP_AFTER  # a call that never reports back
    poll_seconds: float = 1.0


@dataclass
class Summary:
    dialed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    confirmed: int = 0
    rescheduled: int = 0
    transferred: int = 0
    callbacks: int = 0  # calls on which the patient asked to be called back
    skipped: dict[str, int] = field(default_factory=dict)
    stopped: str | None = None  # why the campaign stopped before it was done

    def rows(self) -> list[tuple[str, int]]:
        o, s = self.outcomes, self.skipped
        return [
            ("dialed", self.dialed),
            ("answered", o.get("answered", 0)),
            ("confirmed", self.confirmed),
            ("rescheduled", self.rescheduled),
            ("transferred", self.transferred),
            ("callback requested", self.callbacks),
            ("voicemail", o.get("voicemail", 0)),
            ("no answer", o.get("no_answer", 0)),
            ("busy", o.get("busy", 0)),
            ("declined", o.get("declined", 0)),
            ("failed", o.get("failed", 0) + o.get("timeout", 0) + o.get(TRUNK_FAILED, 0)),
            ("skipped: calling window", s.get("window", 0)),
            ("skipped: per-patient cap", s.get("cap", 0)),
            ("skipped: do-not-call", s.get("dnc", 0)),
        ]


class CampaignError(OutboundCallerError):
    pass


# -- rules ------------------------------------------------------------------------------


def window_opening(
    moment: datetime, zone: ZoneInfo, start: time, end: time, closed: set[date]
) -> datetime:
    """``moment`` if it is inside the calling window in ``zone`` (on a day not in
    ``closed``), otherwise when the window next opens."""
    local = moment.astimezone(zone)
    for offset in range(0, 400):
        day = local.date() + timedelta(days=offset)
        if day in closed:
            continue
        opens = datetime.combine(day, start, zone)
        closes = datetime.combine(day, end, zone)
        if offset == 0 and opens <= local < closes:
            return moment
        if local < opens:
            return opens.astimezone(UTC)
    raise CampaignError("the calling window never opens")


def next_step(
    status: str,
    hangup_reason: str | None,
    attempts: int,
    policy: Policy,
    now: datetime,
    callback_at: datetime | None = None,
) -> tuple[str, datetime | None]:
    """After a call ended: ('done', None) or ('pending', when to try again). A patient who
    asked to be called back is called at that time (the window and caps still apply)."""
    if hangup_reason == CALLBACK and callback_at is not None:
        return "pending", max(callback_at, now)
    if hangup_reason in END_REASONS_NEVER or status == "declined" or status == "answered":
        return "done", None
    retry = status in RETRY or (status == "voicemail" and policy.retry_voicemail)
    if retry and attempts < policy.max_attempts:
        return "pending", now + policy.retry_after * (2 ** (attempts - 1))
    return "done", None


# -- running ----------------------------------------------------------------------------

Claim = Literal["dialed", "skipped", "deferred", "wait", "idle"]


class Runner:
    """Works through one campaign until every target is done or skipped."""

    def __init__(
        self,
        store: Store,
        campaign_id: int,
        *,
        dialer: Dialer,
        policy: Policy,
        now: Clock,
        sleep: Sleep = asyncio.sleep,
        runner_id: str = "runner",
        on_progress: Callable[[int, int], None] | None = None,
        webhook: bool = False,
    ) -> None:
        self._store = store
        self._campaign = campaign_id
        self._dial = dialer
        self._policy = policy
        self._now = now
        self._sleep = sleep
        self._id = runner_id
        self._progress = on_progress
        self._webhook = webhook  # calls it settles queue their events
        self._rate_ready: datetime | None = None

    async def run(self) -> Summary:
        # a resumed campaign carries on
        await self._set_state(("stopped", PAUSED), "running")
        while True:
            await self.reap()
            if await self._stopped():
                break
            self._rate_ready = None
            outcome: Claim = "dialed"
            while outcome in ("dialed", "skipped", "deferred"):
                outcome = await self.claim_and_dial()
            finished, total, in_flight, next_due = await self._status()
            if self._progress:
                self._progress(finished, total)
            if finished == total:
                break
            now = self._now()
            # a target already due but blocked waits for a call to end or the rate to allow
            wakes = [w for w in (next_due, self._rate_ready) if w is not None and w > now]
            if in_flight:
                wakes.append(now + timedelta(seconds=self._policy.poll_seconds))
            pause = (min(wakes) - now).total_seconds() if wakes else self._policy.poll_seconds
            await self._sleep(max(pause, 0.01))
        return await summarize(self._store, self._campaign)

    async def _set_state(self, old: tuple[str, ...], new: str) -> None:
        async with self._store.write() as s:
            await s.execute(
                update(db.Campaign)
                .where(db.Campaign.id == self._campaign, db.Campaign.state.in_(old))
                .values(state=new)
            )

    async def _stopped(self) -> bool:
        async with self._store.read() as s:
            state = await s.scalar(
                select(db.Campaign.state).where(db.Campaign.id == self._campaign)
            )
        return state in ("stopped", PAUSED)

    async def _status(self) -> tuple[int, int, int, datetime | None]:
        """(finished targets, all targets, calls in flight, when the next pending is due)"""
        async with self._store.read() as s:
            rows = (
                await s.execute(
                    select(
                        db.CampaignTarget.state, func.count(), func.min(db.CampaignTarget.next_at)
                    )
                    .where(db.CampaignTarget.campaign_id == self._campaign)
                    .group_by(db.CampaignTarget.state)
                )
            ).all()
        counts = {state: n for state, n, _ in rows}
        due = next((d for state, _, d in rows if state == "pending"), None)
        if due is not None and due.tzinfo is None:
            due = due.replace(tzinfo=UTC)
        finished = counts.get("done", 0) + counts.get("skipped", 0)
        return finished, sum(counts.values()), counts.get("dialing", 0), due

    async def claim_and_dial(self) -> Claim:
        now = self._now()
        async with self._store.write() as s:
            campaign = await s.scalar(
                select(db.Campaign).where(db.Campaign.id == self._campaign).with_for_update()
            )
            if campaign is None:
                raise CampaignError(f"no campaign {self._campaign}")
            in_flight = await s.scalar(
                select(func.count())
                .select_from(db.Call)
                .where(db.Call.campaign_id == campaign.id, db.Call.status == "dialing")
            )
            if (in_flight or 0) >= campaign.max_in_flight:
                return "wait"
            interval = timedelta(seconds=1.0 / campaign.calls_per_second)
            slot = now
            if campaign.last_dial_at is not None:
                ready = campaign.last_dial_at + interval
                if now < ready:
                    self._rate_ready = ready
                    return "wait"
                # Dials are paced on a timeline, not from whenever the last one happened:
                # a runner a few milliseconds late does not slow the campaign down, and one
                # that was idle for longer does not burst.
                if now - ready < interval:
                    slot = ready
            target = await s.scalar(
                select(db.CampaignTarget)
                .where(
                    db.CampaignTarget.campaign_id == campaign.id,
                    db.CampaignTarget.state == "pending",
                    db.CampaignTarget.next_at <= now,
                )
                .order_by(db.CampaignTarget.next_at, db.CampaignTarget.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if target is None:
                return "idle"
            practice = await s.get_one(db.Practice, campaign.practice_id)
            verdict = await self._check(s, target, practice, now)
            if verdict is not None:
                return verdict
            target.state = "dialing"
            target.attempts += 1
            room = room_name(campaign.id, target.id, target.attempts)
            s.add(
                db.Call(
                    room=room,
                    phone=target.phone,
                    appointment_id=target.appointment_id,
                    campaign_id=campaign.id,
                    target_id=target.id,
                    placed_at=now,
                    status="dialing",
                )
            )
            campaign.last_dial_at = slot
            meta = DispatchMetadata(phone_number=target.phone, appointment_id=target.appointment_id)
        # committed: this attempt is ours alone and will never be dialed again
        try:
            dispatch_id = await self._dial(room, meta)
        except CannotDial:
            # nothing was dispatched, and nothing can be: stop; on resume the patient is
            # called, and this claim does not count as an attempt
            await self._finish_call(room, NOT_DISPATCHED)
            raise
        except OutboundCallerError as exc:
            logger.warning("dial failed: %s", exc, extra={"room": room})
            await self._finish_call(room, "failed")
            return "dialed"
        async with self._store.write() as s:
            await s.execute(
                update(db.Call).where(db.Call.room == room).values(dispatch_id=dispatch_id)
            )
        return "dialed"

    async def _check(
        self, s: AsyncSession, target: db.CampaignTarget, practice: db.Practice, now: datetime
    ) -> Claim | None:
        """Skip or defer the target, or None when it may be dialed now."""
        if await is_blocked(s, target.phone):
            target.state, target.skip_reason = "skipped", "dnc"
            return "skipped"
        zone = ZoneInfo(target.timezone)
        closed = set() if practice.call_on_closed_days else {c.day for c in practice.closed_dates}
        opening = window_opening(
            now, zone, practice.call_window_start, practice.call_window_end, closed
        )
        deadline = await self._deadline(s, target)
        if opening > now:
            if deadline is not None and opening >= deadline:
                target.state, target.skip_reason = "skipped", "window"
                return "skipped"
            target.next_at = opening
            return "deferred"
        local_day = now.astimezone(zone).date()
        day_start = datetime.combine(local_day, time(), zone)
        placed = [
            p
            for (p,) in (
                await s.execute(
                    select(db.Call.placed_at).where(
                        db.Call.phone == target.phone,
                        db.Call.placed_at > now - timedelta(days=7),
                        db.Call.status.not_in(NEVER_RANG),
                    )
                )
            ).all()
        ]
        if len(placed) >= self._policy.max_per_week:
            target.state, target.skip_reason = "skipped", "cap"
            return "skipped"
        asked = await s.scalar(  # the last call ended with a callback the patient asked for
            select(db.Call.callback_at).where(
                db.Call.room == room_name(target.campaign_id, target.id, target.attempts)
            )
        )
        today = sum(1 for p in placed if p >= day_start)
        if asked is None and today >= self._policy.max_per_day:
            tomorrow = datetime.combine(local_day + timedelta(days=1), time(), zone)
            if deadline is not None and tomorrow >= deadline:
                target.state, target.skip_reason = "skipped", "cap"
                return "skipped"
            target.next_at = tomorrow.astimezone(UTC)
            return "deferred"
        return None

    async def _deadline(self, s: AsyncSession, target: db.CampaignTarget) -> datetime | None:
        """No point calling about an appointment once it has begun."""
        if target.appointment_id is None:
            return None
        return await s.scalar(
            select(db.Appointment.start_at).where(db.Appointment.id == target.appointment_id)
        )

    async def _finish_call(self, room: str, status: str) -> None:
        async with self._store.write() as s:
            await s.execute(
                update(db.Call)
                .where(db.Call.room == room, db.Call.status == "dialing")
                .values(status=status, ended_at=self._now())
            )

    async def reap(self) -> None:
        """Apply the retry policy to calls that ended (or never reported back, or were never
        dispatched), and let a late report settle an attempt already given up on."""
        now = self._now()
        await settle_unreported(
            self._store,
            now=now,
            give_up_after=self._policy.call_timeout,
            campaign_id=self._campaign,
            webhook=self._webhook,
        )
        async with self._store.write() as s:
            targets = (
                await s.scalars(
                    select(db.CampaignTarget)
                    .where(
                        db.CampaignTarget.campaign_id == self._campaign,
                        (db.CampaignTarget.state == "dialing")
                        | (
                            (db.CampaignTarget.state == "pending")
                            & db.CampaignTarget.last_status.in_((TIMEOUT, NOT_DISPATCHED))
                        ),
                    )
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for target in targets:
                call = await s.scalar(
                    select(db.Call).where(
                        db.Call.room == room_name(self._campaign, target.id, target.attempts)
                    )
                )
                if call is None or call.status == "dialing":
                    continue
                if target.state == "pending" and call.status == target.last_status:
                    continue  # given up on, and still no report
                if call.status == NOT_DISPATCHED:
                    # the patient never got it: dial again now, not counted as an attempt
                    target.state, target.last_status, target.next_at = "pending", call.status, now
                    continue
                if call.status == TRUNK_FAILED:
                    # not the patient's doing: they are called once the trunk works again
                    target.state, target.last_status, target.next_at = "pending", call.status, now
                    await s.execute(
                        update(db.Campaign)
                        .where(db.Campaign.id == self._campaign)
                        .values(state="stopped")
                    )
                    logger.error(
                        "campaign stopped: the SIP trunk refused a call",
                        extra={"campaign_id": self._campaign, "room": call.room},
                    )
                    continue
                never_rang = await s.scalar(
                    select(func.count())
                    .select_from(db.Call)
                    .where(db.Call.target_id == target.id, db.Call.status.in_(NEVER_RANG))
                )
                state, again = next_step(
                    call.status,
                    call.hangup_reason,
                    target.attempts - int(never_rang or 0),
                    self._policy,
                    now,
                    call.callback_at,
                )
                target.state, target.last_status = state, call.status
                if again is not None:
                    target.next_at = again


def room_name(campaign_id: int, target_id: int, attempt: int) -> str:
    """The room of one attempt: the same attempt always names the same room."""
    return f"campaign{campaign_id}-t{target_id}-a{attempt}"


async def summarize(store: Store, campaign_id: int) -> Summary:
    summary = Summary()
    async with store.read() as s:
        calls = (await s.scalars(select(db.Call).where(db.Call.campaign_id == campaign_id))).all()
        state = await s.scalar(select(db.Campaign.state).where(db.Campaign.id == campaign_id))
        skipped = (
            await s.execute(
                select(db.CampaignTarget.skip_reason, func.count())
                .where(
                    db.CampaignTarget.campaign_id == campaign_id,
                    db.CampaignTarget.state == "skipped",
                )
                .group_by(db.CampaignTarget.skip_reason)
            )
        ).all()
    for call in calls:
        if call.status == NOT_DISPATCHED:
            continue  # claimed, never dispatched: nobody was called
        summary.dialed += 1
        summary.outcomes[call.status] = summary.outcomes.get(call.status, 0) + 1
        summary.confirmed += "confirmed " in call.changes
        summary.rescheduled += "rescheduled " in call.changes
        summary.transferred += call.hangup_reason == "transferred"
        summary.callbacks += call.hangup_reason == CALLBACK
    summary.skipped = {reason or "": n for reason, n in skipped}
    if state == "stopped":
        summary.stopped = TRUNK_STOP_REASON.format(id=campaign_id)
    elif state == PAUSED:
        summary.stopped = PAUSED_REASON.format(id=campaign_id)
    return summary


async def pause(store: Store, campaign_id: int) -> bool:
    """Pause a running campaign: its runner places no more calls (calls on the phone go on
    and report back) and stops; whoever resumes it carries on. False if it was not running."""
    async with store.write() as s:
        result = await s.execute(
            update(db.Campaign)
            .where(db.Campaign.id == campaign_id, db.Campaign.state == "running")
            .values(state=PAUSED)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


async def unpause(store: Store, campaign_id: int) -> None:
    """Mark a paused or stopped campaign running again (its runner is about to start)."""
    async with store.write() as s:
        await s.execute(
            update(db.Campaign)
            .where(db.Campaign.id == campaign_id, db.Campaign.state.in_(("stopped", PAUSED)))
            .values(state="running")
        )


def stored_policy(campaign: db.Campaign) -> Policy:
    """The policy the campaign was started with (the defaults for what it did not keep)."""
    default = Policy()
    return Policy(
        max_in_flight=campaign.max_in_flight,
        calls_per_second=campaign.calls_per_second,
        max_attempts=campaign.max_attempts or default.max_attempts,
        retry_after=(
            timedelta(minutes=campaign.retry_minutes)
            if campaign.retry_minutes
            else default.retry_after
        ),
        retry_voicemail=bool(campaign.retry_voicemail),
    )
