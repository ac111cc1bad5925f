"""The in-memory schedule and how times are spoken."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW, NY, jane_appointment
from outbound_caller.call.speech import ordinal, speak_time, speak_when
from outbound_caller.errors import AppointmentNotFound, InvalidRequest, SlotUnavailable
from outbound_caller.store.scheduling import InMemoryScheduler

HALF_HOUR = timedelta(minutes=30)


def scheduler(now: datetime = NOW) -> InMemoryScheduler:
    return InMemoryScheduler(zone=NY, now=lambda: now, appointments=[jane_appointment()])


@pytest.mark.parametrize(
    ("moment", "spoken"),
    [
        (
            datetime(2026, 12, 3, 14, 30, tzinfo=NY),
            "Thursday, December 3rd at 2:30 in the afternoon",
        ),
        (datetime(2026, 12, 1, 9, 0, tzinfo=NY), "Tuesday, December 1st at 9 in the morning"),
        (datetime(2026, 12, 11, 12, 0, tzinfo=NY), "Friday, December 11th at noon"),
        (
            datetime(2026, 12, 22, 18, 15, tzinfo=NY),
            "Tuesday, December 22nd at 6:15 in the evening",
        ),
        (
            datetime(2026, 12, 1, 19, 30, tzinfo=UTC),
            "Tuesday, December 1st at 2:30 in the afternoon",
        ),
    ],
)
def test_times_are_spoken_naturally_in_the_practice_zone(moment: datetime, spoken: str) -> None:
    assert speak_when(moment, NY) == spoken


def test_today_and_tomorrow_are_said_and_day_first_zones_say_day_first() -> None:
    from zoneinfo import ZoneInfo

    from outbound_caller.call.speech import speak_date, speak_phone

    monday = datetime(2026, 11, 30).date()
    assert speak_date(monday, NY, today=monday) == "today, Monday, November 30th"
    assert (
        speak_date(monday + HALF_HOUR * 48, NY, today=monday) == "tomorrow, Tuesday, December 1st"
    )
    assert speak_date(monday + HALF_HOUR * 96, NY, today=monday) == "Wednesday, December 2nd"
    london = ZoneInfo("Europe/London")
    assert speak_date(monday, london) == "Monday the 30th of November"
    assert speak_phone("+14155550100") == "4 1 5, 5 5 5, 0 1 0 0"
    assert speak_phone("+442079460958") == "0 2 0, 7 9 4 6, 0 9 5 8"


def test_ordinals() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "31st",
    ]
    assert speak_time(datetime(2026, 1, 1, 0, 5)) == "12:05 in the morning"


async def test_slots_leave_out_bookings_breaks_and_the_past() -> None:
    s = scheduler(now=datetime(2026, 12, 1, 10, 40, tzinfo=NY))
    slots = await s.availability(date(2026, 12, 1), duration=HALF_HOUR)
    starts = [x.start.astimezone(NY).time() for x in slots]
    assert starts[0] == time(11, 0)  # nothing before now
    assert time(12, 0) not in starts
    assert time(12, 30) not in starts
    assert time(14, 30) not in starts  # Jane's appointment
    assert starts[-1] == time(16, 30)  # the last that ends by 17:00
    assert all(x.start.tzinfo is not None for x in slots)


async def test_weekends_have_no_slots_and_ids_are_stable() -> None:
    s = scheduler()
    assert await s.availability(date(2026, 12, 5), duration=HALF_HOUR) == []
    first = await s.availability(date(2026, 12, 2), duration=HALF_HOUR)
    again = await s.availability(date(2026, 12, 2), duration=HALF_HOUR)
    assert [x.id for x in first] == [x.id for x in again]
    assert len({x.id for x in first}) == len(first)


async def test_slots_follow_daylight_saving_changes() -> None:
    s = scheduler(now=datetime(2027, 3, 10, 9, 0, tzinfo=NY))
    before = await s.availability(date(2027, 3, 12), duration=HALF_HOUR)  # EST
    after = await s.availability(date(2027, 3, 15), duration=HALF_HOUR)  # EDT
    assert before[0].start == datetime(2027, 3, 12, 13, 0, tzinfo=UTC)
    assert after[0].start == datetime(2027, 3, 15, 12, 0, tzinfo=UTC)


async def test_past_and_far_future_days_are_refused() -> None:
    s = scheduler()
    with pytest.raises(InvalidRequest, match="already passed"):
        await s.availability(date(2026, 11, 29), duration=HALF_HOUR)
    with pytest.raises(InvalidRequest, match="four months"):
        await s.availability(date(2027, 6, 1), duration=HALF_HOUR)


async def test_reschedule_is_all_or_nothing() -> None:
    s = scheduler()
    [slot, *_] = await s.availability(date(2026, 12, 2), duration=HALF_HOUR)
    with pytest.raises(InvalidRequest):
        await s.reschedule("appt-1", "slot_never_offered")
    with pytest.raises(AppointmentNotFound):
        await s.reschedule("appt-404", slot.id)
    assert (await s.get_appointment("appt-1")).start == jane_appointment().start
    moved = await s.reschedule("appt-1", slot.id)
    assert moved.start == slot.start
    assert moved.status == "rescheduled"


async def test_a_slot_that_has_passed_meanwhile_is_unavailable() -> None:
    clock = [datetime(2026, 12, 2, 7, 0, tzinfo=NY)]
    s = InMemoryScheduler(zone=NY, now=lambda: clock[0], appointments=[jane_appointment()])
    [slot, *_] = await s.availability(date(2026, 12, 2), duration=HALF_HOUR)
    clock[0] = datetime(2026, 12, 2, 8, 5, tzinfo=NY)
    with pytest.raises(SlotUnavailable, match="already passed"):
        await s.reschedule("appt-1", slot.id)


async def test_other_zones_are_respected() -> None:
    la = ZoneInfo("America/Los_Angeles")
    s = InMemoryScheduler(zone=la, now=lambda: NOW)
    [slot, *_] = await s.availability(date(2026, 12, 2), duration=HALF_HOUR)
    assert slot.start.astimezone(la).time() == time(8, 0)
