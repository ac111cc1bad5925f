"""Finding times the way patients ask for them, through the real session and the
find_open_times tool: ranges, parts of the day, earliest and latest times, the same
provider, the next open day when the asked one is full, and the store's rule that only
providers who do the appointment's type are offered."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from conftest import NY, StartCall
from outbound_caller.call.offers import spread
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.store.appointments import Store
from outbound_caller.store.scheduling import Slot
from storedata import make_practice

WHEN = re.compile(r"s\d+: (\w+), \w+ \d+\w\w at ([^;]+?) with ([^;(.]+(?:\. \w+)?)")


async def ask(start_call: StartCall, arguments: dict[str, Any], **options: Any) -> str:
    live = await start_call(
        [
            Rule(r"^look", Turn("", (ToolCall("find_open_times", arguments),))),
            Rule(r"^find_open_times ->", Turn("Okay.")),
        ],
        **options,
    )
    result = await live.session.run(user_input="look it up")
    result.expect.skip_next()
    output = result.expect.next_event().is_function_call_output().event().item
    assert not output.is_error, output.output
    return str(output.output)


def offered(output: str) -> list[tuple[str, str, str]]:
    """(weekday, time, provider) of each option."""
    return WHEN.findall(output)


async def test_next_week_mornings_only_spreads_over_the_days(start_call: StartCall) -> None:
    output = await ask(
        start_call,
        {"from_date": "2026-12-07", "to_date": "2026-12-11", "part_of_day": "morning"},
    )
    options = offered(output)
    assert len(options) == 4
    assert all(t.endswith("in the morning") for _, t, _ in options)
    # four different days of the week, not four times on the Monday
    assert len({day for day, _, _ in options}) == 4
    assert " more open times match" in output


async def test_after_five_pm_on_a_day_without_evenings_moves_on_and_says_so(
    start_call: StartCall,
) -> None:
    output = await ask(start_call, {"from_date": "2026-12-02", "earliest": "17:00"})
    assert output.startswith(
        "Nothing matches from Wednesday, December 2nd or in the two weeks after."
    )


async def test_a_full_day_moves_on_to_the_next_open_day(start_call: StartCall) -> None:
    # Saturday and Sunday: the practice is closed, so the search moves on to Monday
    output = await ask(start_call, {"from_date": "2026-12-05"})
    assert output.startswith(
        "Nothing matches on Saturday, December 5th. The next day with a match:"
    )
    assert {day for day, _, _ in offered(output)} == {"Monday"}
    assert "Tell the patient their day is full before offering these." in output


async def test_an_earliest_and_latest_time_bound_the_starts(start_call: StartCall) -> None:
    output = await ask(
        start_call, {"from_date": "2026-12-02", "earliest": "10:00", "latest": "11:00"}
    )
    assert [t for _, t, _ in offered(output)] == [
        "10 in the morning",
        "10:30 in the morning",
        "11 in the morning",
    ]


async def test_keeping_the_provider_offers_only_theirs_and_others_are_named_as_others(
    start_call: StartCall,
) -> None:
    both = ("Dr. Rivera", "Dr. Chen")
    same = await ask(start_call, {"from_date": "2026-12-02", "same_provider": True}, providers=both)
    any_one = await ask(
        start_call, {"from_date": "2026-12-02", "part_of_day": "afternoon"}, providers=both
    )
    assert {who for _, _, who in offered(same)} == {"Dr. Rivera"}
    assert "Dr. Chen (not their usual Dr. Rivera: say so)" in any_one


async def test_bad_arguments_are_instructions_to_ask_again(start_call: StartCall) -> None:
    live = await start_call(
        [
            Rule(r"^a", Turn("", (ToolCall("find_open_times", {"from_date": "next tuesday"}),))),
            Rule(
                r"^b",
                Turn(
                    "",
                    (ToolCall("find_open_times", {"from_date": "2026-12-02", "earliest": "5pm"}),),
                ),
            ),
            Rule(r" -> ", Turn("Okay.")),
        ]
    )
    errors = []
    for words in ("a", "b"):
        result = await live.session.run(user_input=words)
        result.expect.skip_next()
        errors.append(result.expect.next_event().is_function_call_output().event().item)
    assert all(e.is_error for e in errors)
    assert errors[0].output.startswith("Pass `from_date` as YYYY-MM-DD; work it out from the dates")
    assert errors[1].output == "Pass `earliest` as HH:MM on a 24-hour clock (5 pm is 17:00)."


def test_spreading_keeps_the_first_of_each_day_and_part() -> None:
    def at(day: int, hour: int) -> Slot:
        start = datetime(2026, 12, day, hour, 0, tzinfo=NY)
        return Slot(f"{day}-{hour}", start, start + timedelta(minutes=30), "Dr. Rivera")

    slots = [at(2, h) for h in (8, 9, 10, 11, 13, 14, 15, 16)]
    picked = spread(slots, NY)
    # the morning and the afternoon are both there, with two more in between
    assert [s.id for s in picked] == ["2-8", "2-10", "2-13", "2-15"]
    assert spread(slots[:3], NY) == slots[:3]


async def test_the_store_offers_only_providers_who_do_the_appointments_type(store: Store) -> None:
    from sqlalchemy import delete

    from outbound_caller.store import schema as db

    ids = await make_practice(store)
    async with store.transaction() as s:  # Dr. Chen stops doing check-ups
        await s.execute(
            delete(db.ProviderAppointmentType).where(
                db.ProviderAppointmentType.provider_id == ids.chen,
                db.ProviderAppointmentType.type_id == ids.checkup,
            )
        )
    store._setups.clear()  # the cached set-up is read again
    day = date(2026, 12, 2)  # a Wednesday: both dentists work
    every = await store.availability(ids.practice, day, minutes=30)
    checkups = await store.availability(ids.practice, day, minutes=30, type_name="Check-up")
    fillings = await store.availability(ids.practice, day, minutes=30, type_name="Filling")
    assert {s.provider for s in every} == {"Dr. Rivera", "Dr. Chen"}
    assert {s.provider for s in checkups} == {"Dr. Rivera"}
    assert {s.provider for s in fillings} == {"Dr. Rivera", "Dr. Chen"}


async def test_a_range_longer_than_two_weeks_is_cut_to_two_weeks(start_call: StartCall) -> None:
    output = await ask(start_call, {"from_date": "2026-12-02", "to_date": "2027-01-31"})
    days = [int(d) for d in re.findall(r"s\d+: \w+, December (\d+)\w\w", output)]
    assert len(days) == 4
    assert max(days) <= 15  # December 2nd and the 13 days after it
