"""The practice's set-up from one description: read with every problem on its line, applied
in one transaction on both backends, re-appliable, and never losing an appointment."""

from __future__ import annotations

from datetime import date, time

import pytest
from sqlalchemy import func, select

from outbound_caller.store import schema as db
from outbound_caller.store.appointments import Store
from outbound_caller.store.practice_spec import SpecError, dump_spec, parse_spec
from outbound_caller.store.practices import SetUpRefused, apply_spec, load_spec
from outbound_caller.store.seed import seed_demo
from practice_files import BAD_FILE, PRACTICE_FILE


def test_a_description_reads_as_what_it_says() -> None:
    spec = parse_spec(PRACTICE_FILE)
    p = spec.practice
    assert (p.name, p.timezone, p.callback_number) == (
        "Riverside Family Dentistry",
        "America/Chicago",
        "+13125550100",
    )
    # 13:00 stays a time (YAML 1.1 would read it as the number 780), Tuesday is a weekday
    assert p.hours == {
        "monday": [(time(8), time(12)), (time(13), time(17))],
        "tuesday": [(time(8), time(12)), (time(13), time(17))],
        "saturday": [(time(9), time(13))],
    }
    assert p.closed == {date(2026, 12, 25): "Christmas Day"}
    assert p.call_window == (time(9), time(19, 30))
    assert [(t.name, t.minutes) for t in spec.appointment_types] == [
        ("Check-up", 30),
        ("Cleaning", 45),
    ]
    assert [(v.name, v.does) for v in spec.providers] == [
        ("Dr. Ana Ruiz", ["Check-up", "cleaning"]),
        ("Sam Lee", ["Cleaning"]),
    ]
    assert parse_spec(dump_spec(spec)) == spec


def test_every_problem_is_named_on_its_line() -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(BAD_FILE)
    assert caught.value.problems == [
        "line 3: practice.timezone: 'America/Chicagoo' is not a known time zone "
        "(e.g. America/New_York)",
        "line 4: practice.callback_number: must be in E.164 form, starting with + and the "
        "country code",
        "line 6: practice.hours.mondy: Input should be 'monday', 'tuesday', 'wednesday', "
        "'thursday', 'friday', 'saturday' or 'sunday'",
        "line 7: practice.hours.tuesday: '13:00-12:00' ends before it starts",
        "line 8: practice.hours.wednesday: two periods overlap",
        "line 9: practice.hours.thursday: '8 to 5' is not a period like 08:00-12:00",
        "line 10: practice.colour: Extra inputs are not permitted",
        "line 13: appointment_types.Cleaning.minutes: Input should be less than or equal to 480",
        "line 14: appointment_types.check-up: 'check-up' is listed twice",
        "line 18: providers.0.does: 'Root canal': not among the appointment_types",
        "line 19: providers.1.role: Field required",
        "line 19: providers.1.name: 'Dr. Ana Ruiz' is listed twice",
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "line 1: the file is empty; start with 'practice:'"),
        ("- a\n- b\n", "line 1: the file must be a mapping starting with 'practice:'"),
        ("practice: [\n", "line 2: not valid YAML"),
        ("practice:\n  name: A\n  name: B\n", "line 3: 'name' is given twice"),
        ("appointment_types: {}\n", "line 1: practice: Field required"),
    ],
)
def test_a_file_that_is_not_a_description_says_why(text: str, problem: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(text)
    assert caught.value.problems[0].startswith(problem), caught.value.problems


async def count(store: Store, table: type[db.Base]) -> int:
    async with store.read() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def test_applying_creates_the_practice_then_changes_nothing_the_second_time(
    store: Store,
) -> None:
    spec = parse_spec(PRACTICE_FILE)
    first = await apply_spec(store, spec)
    assert (first.created, first.changed) == (True, True)
    info = await store.practice(first.practice_id)
    assert (info.name, str(info.zone), info.callback_number) == (
        "Riverside Family Dentistry",
        "America/Chicago",
        "+13125550100",
    )
    assert (info.address, info.parking) == (
        "1200 River Road, Suite 4",
        "Free parking behind the building.",
    )
    async with store.read() as s:
        ruiz = await s.scalar(select(db.Provider).where(db.Provider.name == "Dr. Ana Ruiz"))
        assert ruiz is not None
        assert sorted(t.name for t in ruiz.types) == ["Check-up", "Cleaning"]
        assert sorted((h.weekday, h.starts, h.ends) for h in ruiz.hours) == [
            (0, time(8), time(12)),
            (0, time(13), time(17)),
            (1, time(13), time(17)),
        ]
        ids = sorted((await s.scalars(select(db.OpeningHours.id))).all())
    assert await count(store, db.OpeningHours) == 5
    assert await count(store, db.ProviderAppointmentType) == 3

    again = await apply_spec(store, spec)
    assert (again.practice_id, again.created, again.changed) == (first.practice_id, False, False)
    async with store.read() as s:  # not rewritten: the same rows
        assert sorted((await s.scalars(select(db.OpeningHours.id))).all()) == ids
    assert await load_spec(store) == again.spec


async def test_the_store_reads_back_as_the_description_it_was_given(store: Store) -> None:
    await apply_spec(store, parse_spec(PRACTICE_FILE))
    shown = dump_spec(await load_spec(store))
    assert (await apply_spec(store, parse_spec(shown))).changed is False


async def test_a_provider_with_appointments_is_not_removed_and_nothing_changes(
    store: Store,
) -> None:
    await seed_demo(store, today=date(2026, 12, 1))
    demo = await load_spec(store)
    without = demo.model_copy(
        update={
            "providers": [v for v in demo.providers if v.name != "Alex Kim"],
            "practice": demo.practice.model_copy(update={"name": "Renamed Dental"}),
        }
    )
    with pytest.raises(SetUpRefused, match=r"provider 'Alex Kim' .* \d+ appointment\(s\)"):
        await apply_spec(store, without)
    assert await load_spec(store) == demo  # the name did not change either


async def test_a_renamed_provider_keeps_their_appointments(store: Store) -> None:
    await seed_demo(store, today=date(2026, 12, 1))
    demo = await load_spec(store)
    before = [a.id for a in await store.appointments() if a.provider_name == "Alex Kim"]
    assert before
    renamed = demo.model_copy(
        update={
            "providers": [
                v.model_copy(update={"name": "Alex Kim-Park"}) if v.name == "Alex Kim" else v
                for v in demo.providers
            ]
        }
    )
    applied = await apply_spec(store, renamed, renamed={"Alex Kim": "Alex Kim-Park"})
    assert applied.changed
    after = [a.id for a in await store.appointments() if a.provider_name == "Alex Kim-Park"]
    assert after == before


async def test_a_provider_without_appointments_is_removed_with_their_hours(
    store: Store,
) -> None:
    spec = parse_spec(PRACTICE_FILE)
    await apply_spec(store, spec)
    fewer = spec.model_copy(update={"providers": spec.providers[:1]})
    assert (await apply_spec(store, fewer)).changed
    assert [v.name for v in (await load_spec(store)).providers] == ["Dr. Ana Ruiz"]
    assert await count(store, db.ProviderHours) == 3  # Sam Lee's Saturday went with him
    assert await count(store, db.ProviderAppointmentType) == 2
