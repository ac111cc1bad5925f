"""Property-based checks of free-slot computation, and that every offered slot books."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import NY
from outbound_caller.errors import InvalidRequest
from outbound_caller.store.appointments import Store
from outbound_caller.store.availability import (
    ProviderDay,
    decode_slot_id,
    encode_slot_id,
    fits,
    free_slots,
    localize,
)
from storedata import make_practice

DAY = date(2026, 12, 2)


@st.composite
def periods(draw: st.DrawFn) -> list[tuple[time, time]]:
    hours = sorted(draw(st.sets(st.integers(6, 20), min_size=2, max_size=6)))
    pairs = list(zip(hours[::2], hours[1::2], strict=False))
    return [(time(a), time(b)) for a, b in pairs]


@st.composite
def bookings(draw: st.DrawFn) -> list[tuple[datetime, datetime]]:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        start = localize(
            DAY, time(draw(st.integers(6, 19)), draw(st.sampled_from([0, 10, 15, 30, 45]))), NY
        )
        out.append((start, start + timedelta(minutes=draw(st.sampled_from([15, 20, 30, 60, 90])))))
    return out


@settings(max_examples=200, deadline=None)
@given(
    practice=periods(),
    provider=periods(),
    booked=bookings(),
    minutes=st.sampled_from([15, 30, 45, 60]),
    step=st.sampled_from([15, 30]),
    now_hour=st.integers(0, 23),
)
def test_slots_fit_working_hours_avoid_bookings_and_the_past(
    practice: list[tuple[time, time]],
    provider: list[tuple[time, time]],
    booked: list[tuple[datetime, datetime]],
    minutes: int,
    step: int,
    now_hour: int,
) -> None:
    now = localize(DAY, time(now_hour), NY)
    duration = timedelta(minutes=minutes)
    slots = free_slots(
        day=DAY,
        zone=NY,
        practice_periods=practice,
        providers=[ProviderDay(1, "Dr. A", provider, booked)],
        duration=duration,
        step=timedelta(minutes=step),
        now=now,
    )
    for s in slots:
        assert s.end - s.start == duration
        assert s.start > now
        assert fits(
            start=s.start,
            duration=duration,
            day=DAY,
            zone=NY,
            practice_periods=practice,
            provider_periods=provider,
        )
        assert not any(b0 < s.end and s.start < b1 for b0, b1 in booked)
        assert decode_slot_id(s.id) == (1, s.start)
    assert len({s.id for s in slots}) == len(slots)


@given(provider_id=st.integers(1, 2**31), minute=st.integers(0, 2**31))
def test_slot_ids_round_trip(provider_id: int, minute: int) -> None:
    start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(minutes=minute)
    assert decode_slot_id(encode_slot_id(provider_id, start)) == (provider_id, start)


async def test_every_offered_slot_can_be_booked(store: Store) -> None:
    ids = await make_practice(store)
    slots = await store.availability(ids.practice, DAY, minutes=30)
    assert len(slots) > 20
    for slot in slots:  # only Jane moves, so each offered time must take her booking
        moved = await store.reschedule(ids.jane_appt, slot.id, by="property")
        assert moved.start == slot.start


def test_a_slot_id_needs_its_prefix_and_length() -> None:
    good = encode_slot_id(7, datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    assert decode_slot_id(good) == (7, datetime(2026, 12, 2, 15, 0, tzinfo=UTC))
    for bad in ("spot_" + good[5:], good + "0", good[:-1], "slot_" + "g" * 16):
        with pytest.raises(InvalidRequest):
            decode_slot_id(bad)


SPRING_FORWARD = date(2027, 3, 14)  # New York: 02:00 EST becomes 03:00 EDT
FALL_BACK = date(2026, 11, 1)  # New York: 02:00 EDT becomes 01:00 EST


def test_a_wall_time_in_the_spring_forward_gap_is_the_moment_the_gap_ends() -> None:
    gap_ends = datetime(2027, 3, 14, 7, 0, tzinfo=UTC)  # 03:00 EDT
    for moment in (time(2, 0), time(2, 30), time(2, 59), time(3, 0)):
        assert localize(SPRING_FORWARD, moment, NY) == gap_ends, moment
    assert localize(SPRING_FORWARD, time(1, 59), NY) == datetime(2027, 3, 14, 6, 59, tzinfo=UTC)
    # a repeated hour is read as its first occurrence (still EDT)
    assert localize(FALL_BACK, time(1, 30), NY) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    assert localize(FALL_BACK, time(2, 0), NY) == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)


def test_hours_opening_in_the_gap_offer_nothing_before_the_clocks_reach_them() -> None:
    slots = free_slots(
        day=SPRING_FORWARD,
        zone=NY,
        practice_periods=[(time(2, 30), time(4, 0))],
        providers=[ProviderDay(1, "Dr. A", [(time(0), time(23))], [])],
        duration=timedelta(minutes=30),
        step=timedelta(minutes=30),
        now=datetime(2027, 3, 1, tzinfo=UTC),
    )
    # 03:00 and 03:30 EDT: the wall clock never shows 02:30 that night, and 01:30 EST is
    # before the practice opens
    assert [s.start.astimezone(NY).strftime("%H:%M %Z") for s in slots] == [
        "03:00 EDT",
        "03:30 EDT",
    ]
