"""Campaigns with an injected clock: windows, caps, retries, do-not-call, pacing, crashes."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campaign_world import Crash, World
from conftest import NY
from outbound_caller.call.context import store_context
from outbound_caller.campaigns.plan import plan_for_day, plan_for_people
from outbound_caller.campaigns.runner import Policy, Runner, next_step, window_opening
from outbound_caller.dispatch import DispatchMetadata
from outbound_caller.liveapi import LiveKitError
from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.calls import dnc_add, list_calls, record_placed
from storedata import add_appointment, make_practice

LA = ZoneInfo("America/Los_Angeles")
MONDAY_9AM_NY = datetime(2026, 11, 30, 9, 0, tzinfo=NY)


def people(n: int, zone: str = "America/New_York", start: int = 0) -> list[dict[str, str]]:
    return [
        {"phone": f"+1415555{2000 + start + i:04d}", "name": f"P{i}", "timezone": zone}
        for i in range(n)
    ]


async def run(store: Store, world: World, campaign_id: int, policy: Policy, runner_id: str = "r1"):
    return await Runner(
        store,
        campaign_id,
        dialer=world.dialer,
        policy=policy,
        now=world.now,
        sleep=world.sleep,
        runner_id=runner_id,
    ).run()


FAST = Policy(max_in_flight=3, calls_per_second=0.5, poll_seconds=10)


async def test_concurrency_and_rate_are_never_exceeded(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    cid, n = await plan_for_people(
        store, practice_id=ids.practice, people=people(12), name="t", policy=FAST, now=world.t
    )
    summary = await run(store, world, cid, FAST)
    assert n == 12
    assert summary.dialed == 12
    assert dict(summary.rows())["answered"] == 12
    assert max(d.in_flight for d in world.dials) == 3
    gaps = [(b.at - a.at).total_seconds() for a, b in pairwise(world.dials)]
    assert min(gaps) >= 2.0  # 0.5 calls per second
    assert Counter(d.phone for d in world.dials).most_common(1)[0][1] == 1


@pytest.mark.parametrize(
    ("zone", "now_local", "opens_local"),
    [
        (NY, datetime(2026, 11, 30, 7, 59), datetime(2026, 11, 30, 8, 0)),
        (NY, datetime(2026, 11, 30, 8, 0), datetime(2026, 11, 30, 8, 0)),
        (NY, datetime(2026, 11, 30, 20, 59), datetime(2026, 11, 30, 20, 59)),
        (NY, datetime(2026, 11, 30, 21, 0), datetime(2026, 12, 1, 8, 0)),
        (LA, datetime(2026, 11, 30, 23, 30), datetime(2026, 12, 1, 8, 0)),
    ],
)
def test_calling_window_edges(zone: ZoneInfo, now_local: datetime, opens_local: datetime) -> None:
    moment = now_local.replace(tzinfo=zone)
    assert window_opening(moment, zone, time(8), time(21), set()) == opens_local.replace(
        tzinfo=zone
    )


async def test_each_patient_is_called_inside_their_own_window(store: Store) -> None:
    ids = await make_practice(store)
    # 07:00 in New York is 04:00 in Los Angeles: New Yorkers first, at 08:00 their time
    world = World(store, datetime(2026, 11, 30, 7, 0, tzinfo=NY).astimezone(UTC))
    targets = people(2, "America/New_York") + people(2, "America/Los_Angeles", start=10)
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=targets, name="t", policy=FAST, now=world.t
    )
    await run(store, world, cid, FAST)
    for dial in world.dials:
        zone = LA if dial.phone.endswith(("2010", "2011")) else NY
        local = dial.at.astimezone(zone).time()
        assert time(8) <= local < time(21), (dial.phone, local)
    la_first = min(d.at for d in world.dials if d.phone.endswith(("2010", "2011")))
    assert la_first.astimezone(LA).time() == time(8, 0)


async def test_busy_and_no_answer_are_retried_with_backoff_declined_never(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    policy = Policy(
        max_in_flight=2,
        calls_per_second=1,
        poll_seconds=10,
        max_per_day=3,
        max_per_week=5,
        max_attempts=3,
        retry_after=timedelta(minutes=30),
    )
    [busy, declined, voicemail] = people(3)
    world.script = {
        busy["phone"]: ["busy", "no_answer", "answered"],
        declined["phone"]: ["declined"],
        voicemail["phone"]: ["voicemail"],
    }
    cid, _ = await plan_for_people(
        store,
        practice_id=ids.practice,
        people=[busy, declined, voicemail],
        name="t",
        policy=policy,
        now=world.t,
    )
    summary = await run(store, world, cid, policy)
    calls = Counter(d.phone for d in world.dials)
    assert calls == {busy["phone"]: 3, declined["phone"]: 1, voicemail["phone"]: 1}
    times = [d.at for d in world.dials if d.phone == busy["phone"]]
    assert times[1] - times[0] >= timedelta(minutes=31)  # 30 min after a 1-minute call
    assert times[2] - times[1] >= timedelta(minutes=61)  # doubled
    rows = dict(summary.rows())
    assert (rows["busy"], rows["no answer"], rows["declined"], rows["voicemail"]) == (1, 1, 1, 1)


def test_retry_policy_table() -> None:
    p = Policy(max_attempts=3, retry_after=timedelta(hours=1))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert next_step("no_answer", None, 1, p, now) == ("pending", now + timedelta(hours=1))
    assert next_step("busy", None, 2, p, now) == ("pending", now + timedelta(hours=2))
    assert next_step("busy", None, 3, p, now) == ("done", None)
    assert next_step("declined", None, 1, p, now) == ("done", None)
    assert next_step("answered", "wrong_number", 1, p, now) == ("done", None)
    assert next_step("voicemail", None, 1, p, now) == ("done", None)
    assert next_step("voicemail", None, 1, Policy(retry_voicemail=True), now)[0] == "pending"


async def test_do_not_call_and_caps_skip_people(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    blocked, capped, fine = people(3)
    await dnc_add(store, blocked["phone"], reason="asked", by="test", at=world.t)
    for day in (3, 2, 1):  # three calls already this week to `capped`
        await record_placed(
            store,
            room=f"earlier-{day}",
            phone=capped["phone"],
            placed_at=world.t - timedelta(days=day),
        )
    world.t = MONDAY_9AM_NY.astimezone(UTC)
    cid, _ = await plan_for_people(
        store,
        practice_id=ids.practice,
        people=[blocked, capped, fine],
        name="b",
        policy=FAST,
        now=world.t,
    )
    summary = await run(store, world, cid, FAST)
    assert [d.phone for d in world.dials] == [fine["phone"]]
    rows = dict(summary.rows())
    assert rows["skipped: do-not-call"] == 1
    assert rows["skipped: per-patient cap"] == 1


async def test_one_call_a_day_defers_the_retry_to_tomorrow(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    policy = Policy(
        max_in_flight=1,
        calls_per_second=1,
        poll_seconds=10,
        max_per_day=1,
        retry_after=timedelta(minutes=10),
    )
    [p] = people(1)
    world.script = {p["phone"]: ["no_answer", "answered"]}
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=[p], name="t", policy=policy, now=world.t
    )
    await run(store, world, cid, policy)
    second = world.dials[1].at.astimezone(NY)
    assert second.date() == datetime(2026, 12, 1).date()
    assert second.time() == time(8, 0)  # tomorrow, when the window opens


async def test_the_daily_cap_counts_the_patients_own_day_not_the_utc_day(store: Store) -> None:
    ids = await make_practice(store)
    # 09:00 in Los Angeles is 17:00 UTC; UTC's day ends at 16:00 there
    world = World(store, datetime(2026, 11, 30, 9, 0, tzinfo=LA).astimezone(UTC))
    policy = Policy(
        max_in_flight=1, calls_per_second=1, poll_seconds=10, retry_after=timedelta(hours=7)
    )
    [p] = people(1, "America/Los_Angeles")
    world.script = {p["phone"]: ["busy", "answered"]}
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=[p], name="t", policy=policy, now=world.t
    )
    await run(store, world, cid, policy)
    # the retry is due at 16:01 in Los Angeles, a new UTC day but the same day for the patient
    second = world.dials[1].at.astimezone(LA)
    assert (second.date(), second.time()) == (datetime(2026, 12, 1).date(), time(8, 0))


async def test_an_answered_call_ending_in_do_not_call_is_kept_and_not_retried(
    store: Store,
) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    policy = Policy(max_in_flight=1, poll_seconds=10, max_per_day=3, max_attempts=3)
    [p] = people(1)
    world.script = {p["phone"]: ["do_not_call", "answered"]}
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=[p], name="t", policy=policy, now=world.t
    )
    summary = await run(store, world, cid, policy)
    assert len(world.dials) == 1
    [call] = await list_calls(store)
    assert (call.status, call.hangup_reason) == ("answered", "do_not_call")
    assert dict(summary.rows())["answered"] == 1


class FailingDialer:
    """Refuses the first ``failures`` dials the way the LiveKit client does, then places them."""

    def __init__(self, world: World, failures: int) -> None:
        self.world, self.failures, self.refused = world, failures, 0

    async def __call__(self, room: str, meta: DispatchMetadata) -> str:
        if self.refused < self.failures:
            self.refused += 1
            raise LiveKitError("cannot reach LiveKit at http://127.0.0.1:7880")
        return await self.world.dialer(room, meta)


async def test_a_dial_livekit_refuses_is_failed_and_retried_later(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    policy = Policy(
        max_in_flight=1,
        calls_per_second=1,
        poll_seconds=10,
        max_per_day=2,
        retry_after=timedelta(minutes=30),
    )
    [p] = people(1)
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=[p], name="t", policy=policy, now=world.t
    )
    dialer = FailingDialer(world, failures=1)
    summary = await Runner(
        store, cid, dialer=dialer, policy=policy, now=world.now, sleep=world.sleep
    ).run()
    assert dialer.refused == 1
    assert len(world.dials) == 1  # placed on the second attempt
    assert world.dials[0].at - MONDAY_9AM_NY >= timedelta(minutes=30)
    calls = await list_calls(store)
    assert sorted(c.status for c in calls) == ["answered", "failed"]  # nothing left dialing
    rows = dict(summary.rows())
    assert (rows["dialed"], rows["failed"], rows["answered"]) == (2, 1, 1)


async def test_a_patient_asking_not_to_be_called_is_never_called_again(store: Store) -> None:
    from outbound_caller.worker import save_outcome  # the worker's end-of-call step

    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    [p] = people(1)
    from outbound_caller.dispatch import DispatchMetadata
    from outbound_caller.outcome import CallRecord, CallStatus

    record = CallRecord(
        started_at=world.t,
        status=CallStatus.ANSWERED,
        hangup_reason="do_not_call",
        ended_at=world.t,
    )
    await save_outcome(store, "room-x", DispatchMetadata(phone_number=p["phone"]), record, {})
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=[p], name="t", policy=FAST, now=world.t
    )
    summary = await run(store, world, cid, FAST)
    assert world.dials == []
    assert dict(summary.rows())["skipped: do-not-call"] == 1
    [row] = [c for c in await list_calls(store) if c.room == "room-x"]
    assert (row.status, row.hangup_reason, row.phone) == ("answered", "do_not_call", p["phone"])


async def test_a_call_that_never_reports_back_times_out_and_is_counted(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC), duration=timedelta(hours=5))
    policy = Policy(
        max_in_flight=1,
        calls_per_second=1,
        poll_seconds=60,
        max_attempts=1,
        call_timeout=timedelta(minutes=20),
    )
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=people(1), name="t", policy=policy, now=world.t
    )
    summary = await run(store, world, cid, policy)
    assert dict(summary.rows())["failed"] == 1
    assert world.t - MONDAY_9AM_NY < timedelta(minutes=25)


async def test_a_late_report_settles_an_attempt_already_given_up_on(store: Store) -> None:
    # the call outlasts the runner's give-up time, then the agent reports it answered: the
    # patient must not be called again
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC), duration=timedelta(minutes=25))
    policy = Policy(
        max_in_flight=1,
        calls_per_second=1,
        poll_seconds=60,
        max_attempts=3,
        retry_after=timedelta(hours=1),
        call_timeout=timedelta(minutes=20),
    )
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=people(1), name="t", policy=policy, now=world.t
    )
    summary = await run(store, world, cid, policy)
    assert len(world.dials) == 1
    assert dict(summary.rows())["answered"] == 1
    assert dict(summary.rows())["failed"] == 0
    async with store.read() as s:
        target = await s.scalar(select(db.CampaignTarget))
    assert target is not None
    assert (target.state, target.last_status) == ("done", "answered")


async def test_killing_the_runner_mid_campaign_never_dials_anyone_twice(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC), crash_after=4)
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=people(10), name="t", policy=FAST, now=world.t
    )
    with pytest.raises(Crash):
        await run(store, world, cid, FAST)
    assert len(world.dials) == 4
    crashed_at = world.t
    world.crash_after = None  # a new runner process, same database
    summary = await run(store, world, cid, FAST, runner_id="r2")
    dialed = Counter(d.phone for d in world.dials)
    assert max(dialed.values()) == 1
    assert len(dialed) == 10
    # the attempt claimed at the moment of the crash was never dispatched: it is told apart
    # (no dispatch id), does not count as a call, and its patient is dialed soon after
    assert summary.dialed == 10
    assert dict(summary.rows())["failed"] == 0
    async with store.read() as s:
        statuses = Counter(await s.scalars(select(db.Call.status)))
        ghost = await s.scalar(select(db.Call).where(db.Call.status == "not_dispatched"))
    assert statuses == {"answered": 10, "not_dispatched": 1}
    assert ghost is not None
    assert ghost.ended_at is not None
    # settled (and its in-flight slot freed) once its dispatch could no longer be under way
    # (30 s, then the next poll), not after the 20 minutes a dispatched call may take
    assert ghost.ended_at - crashed_at <= timedelta(seconds=40)
    assert [d.phone for d in world.dials].count(ghost.phone) == 1


async def test_planning_for_a_day_takes_the_unconfirmed_appointments(store: Store) -> None:
    ids = await make_practice(store)
    await store.confirm(ids.john_appt, by="x")
    planned = await plan_for_day(
        store,
        practice_id=ids.practice,
        day=datetime(2026, 12, 1).date(),
        name="tue",
        policy=FAST,
        now=MONDAY_9AM_NY,
    )
    assert (planned.added, planned.existing) == (1, False)  # Jane's Tuesday check-up;
    # John's Thursday one is confirmed anyway
    async with store.read() as s:
        targets = (
            await s.scalars(
                select(db.CampaignTarget).where(
                    db.CampaignTarget.campaign_id == planned.campaign_id
                )
            )
        ).all()
    assert [(t.appointment_id, t.phone) for t in targets] == [(ids.jane_appt, "+14155550123")]


async def test_planning_a_day_twice_carries_on_with_its_campaign_and_adds_only_whats_new(
    store: Store,
) -> None:
    ids = await make_practice(store)
    tuesday = datetime(2026, 12, 1).date()

    async def plan() -> Any:
        return await plan_for_day(
            store, practice_id=ids.practice, day=tuesday, name="tue", policy=FAST, now=MONDAY_9AM_NY
        )

    first = await plan()
    again = await plan()
    assert (again.campaign_id, again.added, again.existing) == (first.campaign_id, 0, True)
    # John books for Tuesday afternoon in between: the next plan adds him, and only him
    async with store.transaction() as s:
        s.add(
            db.Appointment(
                practice_id=ids.practice,
                patient_id=ids.john,
                provider_id=ids.chen,
                type_id=ids.checkup,
                start_at=datetime(2026, 12, 1, 16, tzinfo=NY),
                end_at=datetime(2026, 12, 1, 16, 30, tzinfo=NY),
            )
        )
    topped = await plan()
    assert (topped.campaign_id, topped.added) == (first.campaign_id, 1)
    async with store.read() as s:
        phones = list(await s.scalars(select(db.CampaignTarget.phone)))
        campaigns = list(await s.scalars(select(db.Campaign.id)))
    assert sorted(phones) == ["+14155550123", "+14155550188"]
    assert campaigns == [first.campaign_id]


async def test_a_day_with_nothing_to_call_makes_no_campaign(store: Store) -> None:
    ids = await make_practice(store)
    planned = await plan_for_day(
        store,
        practice_id=ids.practice,
        day=datetime(2026, 12, 2).date(),  # a Wednesday without appointments
        name="wed",
        policy=FAST,
        now=MONDAY_9AM_NY,
    )
    assert (planned.campaign_id, planned.added) == (None, 0)
    async with store.read() as s:
        assert list(await s.scalars(select(db.Campaign.id))) == []


async def test_a_number_with_two_appointments_that_day_is_called_once(store: Store) -> None:
    ids = await make_practice(store)
    # Jane's second check-up that Tuesday, later on
    later = await add_appointment(store, ids, datetime(2026, 12, 1, 15, 30, tzinfo=NY))
    planned = await plan_for_day(
        store,
        practice_id=ids.practice,
        day=datetime(2026, 12, 1).date(),
        name="tue",
        policy=FAST,
        now=MONDAY_9AM_NY,
    )
    assert planned.added == 1
    assert planned.campaign_id is not None
    cid = planned.campaign_id
    async with store.read() as s:
        targets = (await s.scalars(select(db.CampaignTarget))).all()
    # about the first of the day's appointments
    assert [(t.appointment_id, t.phone) for t in targets] == [(ids.jane_appt, "+14155550123")]
    world = World(store, MONDAY_9AM_NY)
    await run(store, world, cid, FAST)
    [dial] = world.dials
    # and the call the worker makes from that dispatch is about both
    meta = DispatchMetadata(phone_number=dial.phone, appointment_id=dial.appointment_id)
    context = await store_context(store, meta, by="AJ_1")
    assert [a.id for a in context.appointments] == [str(ids.jane_appt), str(later)]
    repeated = [*people(2), people(1)[0]]
    _, listed = await plan_for_people(
        store, practice_id=ids.practice, people=repeated, name="csv", policy=FAST, now=MONDAY_9AM_NY
    )
    assert listed == 2


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_two_runners_share_one_campaign_on_postgresql_without_overlap(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    policy = Policy(max_in_flight=4, calls_per_second=2, poll_seconds=5)
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=people(20), name="t", policy=policy, now=world.t
    )
    other = Store(store.url, now=world.now)
    try:
        await asyncio.gather(
            run(store, world, cid, policy, runner_id="a"),
            Runner(
                other,
                cid,
                dialer=world.dialer,
                policy=policy,
                now=world.now,
                sleep=world.sleep,
                runner_id="b",
            ).run(),
        )
    finally:
        await other.close()
    assert Counter(d.phone for d in world.dials) == Counter({p["phone"]: 1 for p in people(20)})
    assert max(d.in_flight for d in world.dials) <= 4


async def test_closed_days_are_skipped_unless_the_practice_allows_them(store: Store) -> None:
    ids = await make_practice(store)
    async with store.write() as s:
        s.add(db.ClosedDate(practice_id=ids.practice, day=MONDAY_9AM_NY.date(), reason="training"))
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=people(1), name="t", policy=FAST, now=world.t
    )
    await run(store, world, cid, FAST)
    assert world.dials[0].at.astimezone(NY) == datetime(2026, 12, 1, 8, 0, tzinfo=NY)

    async with store.write() as s:
        practice = await s.get_one(db.Practice, ids.practice)
        practice.call_on_closed_days = True
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    cid, _ = await plan_for_people(
        store,
        practice_id=ids.practice,
        people=people(1, start=50),
        name="t2",
        policy=FAST,
        now=world.t,
    )
    await run(store, world, cid, FAST)
    assert world.dials[0].at == MONDAY_9AM_NY


@pytest.mark.parametrize(
    ("ending", "reason"), [("do_not_call", "asked on a call"), ("wrong_number", "wrong number")]
)
async def test_numbers_that_must_not_be_called_again_go_on_the_list(
    store: Store, ending: str, reason: str
) -> None:
    from outbound_caller.dispatch import DispatchMetadata
    from outbound_caller.outcome import CallRecord, CallStatus
    from outbound_caller.store.calls import dnc_list
    from outbound_caller.worker import save_outcome

    record = CallRecord(
        started_at=MONDAY_9AM_NY,
        status=CallStatus.ANSWERED,
        hangup_reason=ending,
        ended_at=MONDAY_9AM_NY,
    )
    await save_outcome(store, "r", DispatchMetadata(phone_number="+14155552999"), record, {})
    [entry] = await dnc_list(store)
    assert (entry.phone, entry.reason) == ("+14155552999", reason)


async def test_a_trunk_that_refuses_calls_stops_the_campaign_until_resumed(store: Store) -> None:
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC), duration=timedelta(seconds=5))
    first, *rest = people(4)
    world.script[first["phone"]] = ["trunk_failed"]
    one_at_a_time = Policy(max_in_flight=1, calls_per_second=1, poll_seconds=1)
    cid, _ = await plan_for_people(
        store,
        practice_id=ids.practice,
        people=[first, *rest],
        name="t",
        policy=one_at_a_time,
        now=world.t,
    )

    summary = await run(store, world, cid, one_at_a_time)

    # one refused call, then nothing more: the other patients were not dialed into it
    assert [d.phone for d in world.dials] == [first["phone"]]
    assert summary.stopped is not None
    assert "SIP trunk refused" in summary.stopped
    assert f"--resume {cid}" in summary.stopped

    # the trunk is fixed: resuming calls everyone, the first patient too, the same day
    resumed = await run(store, world, cid, one_at_a_time)
    assert resumed.stopped is None
    assert sorted(d.phone for d in world.dials[1:]) == sorted(p["phone"] for p in [first, *rest])


async def test_a_patient_who_asks_for_a_callback_is_called_again_at_that_time(
    store: Store,
) -> None:
    """ "Call me back in three hours": the answered call does not end the campaign for them;
    they are dialed again at that time, though the per-day cap (one) was used by the first
    call, and the other patient, who confirmed, is not."""
    ids = await make_practice(store)
    world = World(store, MONDAY_9AM_NY.astimezone(UTC))
    two = people(2)
    world.script = {two[0]["phone"]: ["callback+3", "answered"]}
    cid, _ = await plan_for_people(
        store, practice_id=ids.practice, people=two, name="t", policy=FAST, now=world.t
    )
    summary = await run(store, world, cid, FAST)
    dials = [(d.phone, d.at) for d in world.dials]
    first, again = [at for phone, at in dials if phone == two[0]["phone"]]
    assert [phone for phone, _ in dials].count(two[1]["phone"]) == 1
    # the first call ended a minute after it was placed; the callback is 3 hours after that
    assert again == first + timedelta(minutes=1, hours=3)
    rows = dict(summary.rows())
    assert (rows["dialed"], rows["answered"], rows["callback requested"]) == (3, 3, 1)
