"""The real-model evaluations' scenarios (tests/evals) that need more than one tool call or
a practice's data, offline: the scripted model makes the calls a good model makes, and the
tests check what the tools did and what they told the model."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time
from typing import Any

import pytest

from conftest import NY, StartCall
from livekit_stub import LiveKitStub
from outbound_caller.call.agent import build_instructions
from outbound_caller.cli.scripted import Rule, ToolCall, Turn

WEEKDAYS_8_TO_5 = tuple((d, time(8), time(17)) for d in range(5))


@pytest.mark.parametrize(
    ("opening", "transfers"),
    [
        # open on Tuesdays only: closed this Monday morning
        ({"hours": ((1, time(8), time(17)),)}, 0),
        # open on weekdays, but this Monday is a holiday
        ({"hours": WEEKDAYS_8_TO_5, "closed_days": frozenset({date(2026, 11, 30)})}, 0),
        ({"hours": WEEKDAYS_8_TO_5}, 1),
    ],
    ids=["closed", "holiday", "open"],
)
async def test_a_transfer_asked_for_after_hours_is_refused_with_a_callback_offered(
    start_call: StartCall,
    livekit_server: LiveKitStub,
    opening: dict[str, Any],
    transfers: int,
) -> None:
    live = await start_call(
        [
            Rule(r"^yes", Turn("Transferring you now.", (ToolCall("transfer_call"),))),
            Rule(r"^transfer_call ->", Turn("")),
        ]
    )
    live.state.practice = dataclasses.replace(live.state.practice, **opening)
    result = await live.session.run(user_input="Yes, put me through to the front desk.")
    output = result.expect.contains_function_call_output().event().item.output
    assert len(livekit_server.calls("TransferSIPParticipant")) == transfers
    assert live.state.record.transferred is bool(transfers)
    if not transfers:
        assert output == (
            "The office is closed right now, so nobody can take a transfer. Tell the patient, "
            "and offer a callback when the office is open (request_callback)."
        )


async def test_a_closed_day_is_said_to_be_closed_and_the_next_open_day_offered(
    start_call: StartCall,
) -> None:
    live = await start_call(
        [
            Rule(
                r"^can i come in",
                Turn("", (ToolCall("find_open_times", {"from_date": "2026-12-05"}),)),
            ),
            Rule(r"^find_open_times ->", Turn("We're closed Saturday; Monday I have 8 or noon.")),
        ]
    )
    live.state.practice = dataclasses.replace(live.state.practice, hours=WEEKDAYS_8_TO_5)
    result = await live.session.run(user_input="Can I come in this Saturday instead?")
    output = result.expect.contains_function_call_output().event().item.output
    assert output.startswith(
        "Nothing matches on Saturday, December 5th. The next day with a match: "
        "s1: Monday, December 7th at 8 in the morning with Dr. Rivera;"
    )
    assert "Tell the patient the office is closed then before offering these." in output
    assert "their day is full" not in output


async def test_a_holiday_is_said_to_be_closed_too(start_call: StartCall) -> None:
    live = await start_call(
        [
            Rule(
                r"^wednesday", Turn("", (ToolCall("find_open_times", {"from_date": "2026-12-02"}),))
            ),
            Rule(r"^find_open_times ->", Turn("We're closed that day; Thursday I have 8.")),
        ]
    )
    holiday = date(2026, 12, 2)
    live.state.practice = dataclasses.replace(
        live.state.practice, hours=WEEKDAYS_8_TO_5, closed_days=frozenset({holiday})
    )
    schedule = live.scheduler.availability

    async def shut_on_the_holiday(day: date, **options: Any) -> list[Any]:
        return [] if day == holiday else await schedule(day, **options)  # as the store does

    live.scheduler.availability = shut_on_the_holiday  # type: ignore[method-assign]
    result = await live.session.run(user_input="Wednesday, please.")
    output = result.expect.contains_function_call_output().event().item.output
    assert output.startswith(
        "Nothing matches on Wednesday, December 2nd. The next day with a match: "
        "s1: Thursday, December 3rd"
    ), output
    assert "Tell the patient the office is closed then before offering these." in output


@pytest.mark.parametrize(
    ("asked", "told"),
    [
        ("2026-11-31", "2026-11-31 is not a day on the calendar (that month is shorter)."),
        ("the 31st", "Pass `from_date` as YYYY-MM-DD; work it out from the dates"),
    ],
)
async def test_the_31st_of_a_30_day_month_is_sent_back_to_ask_which_day(
    start_call: StartCall, asked: str, told: str
) -> None:
    live = await start_call(
        [
            Rule(r"^how about", Turn("", (ToolCall("find_open_times", {"from_date": asked}),))),
            Rule(r"^find_open_times ->", Turn("November has no 31st; which day did you mean?")),
        ]
    )
    result = await live.session.run(user_input="How about the 31st?")
    output = result.expect.contains_function_call_output().event().item
    assert output.is_error
    assert output.output.startswith(told)
    assert live.state.offers == {}


async def test_the_calendar_resolves_next_friday_said_on_a_thursday(
    start_call: StartCall,
) -> None:
    live = await start_call([])
    thursday = dataclasses.replace(live.state, now=lambda: datetime(2026, 12, 3, 10, tzinfo=NY))
    plain = " ".join(build_instructions(thursday).split())
    assert (
        'Dates of the next two weeks, to work out what "next Tuesday" or "the 14th" means: '
        "Thursday 2026-12-03 (today), Friday 2026-12-04 (tomorrow), Saturday 2026-12-05, "
    ) in plain
    # both Fridays are there to choose from, and the table ends after two weeks
    assert "Friday 2026-12-11, " in plain
    assert "Wednesday 2026-12-16." in plain
    assert "2026-12-17" not in plain


async def test_put_me_back_at_my_original_time_moves_it_back(start_call: StartCall) -> None:
    live = await start_call(
        [
            Rule(
                r"^anything wednesday",
                Turn("", (ToolCall("find_open_times", {"from_date": "2026-12-02"}),)),
            ),
            Rule(r"^the first", Turn("", (ToolCall("move_appointment", {"option": "s1"}),))),
            Rule(r"^yes", lambda _: Turn("", (ToolCall("move_appointment", {"option": pick[0]}),))),
            Rule(
                r"^actually, put me back",
                Turn(
                    "One moment.",
                    (
                        ToolCall(
                            "find_open_times",
                            {"from_date": "2026-12-01", "earliest": "14:30", "latest": "14:30"},
                        ),
                    ),
                ),
            ),
            Rule(
                r"^back", lambda _: Turn("", (ToolCall("move_appointment", {"option": pick[0]}),))
            ),
            Rule(r" -> ", Turn("Okay.")),
        ]
    )
    pick = ["s1"]
    await live.session.run(user_input="Anything Wednesday?")
    await live.session.run(user_input="The first one.")
    await live.session.run(user_input="Yes.")
    moved = await live.scheduler.get_appointment("appt-1")
    assert moved.start == datetime(2026, 12, 2, 8, 0, tzinfo=NY)

    result = await live.session.run(user_input="Actually, put me back at my original time.")
    listing = result.expect.contains_function_call_output().event().item.output
    assert listing.startswith(
        "Open times: s5: tomorrow, Tuesday, December 1st at 2:30 in the afternoon with Dr. Rivera."
    ), listing
    pick[0] = "s5"
    await live.session.run(user_input="Back to that one.")
    assert (await live.scheduler.get_appointment("appt-1")).status == "rescheduled"  # read back
    await live.session.run(user_input="Yes.")
    back = await live.scheduler.get_appointment("appt-1")
    assert (back.start, back.end) == (
        datetime(2026, 12, 1, 14, 30, tzinfo=NY),
        datetime(2026, 12, 1, 15, 0, tzinfo=NY),
    )
    assert live.state.record.changes[-1].startswith("rescheduled")


async def test_who_is_calling_questions_have_their_rules_before_the_person_is_confirmed(
    start_call: StartCall,
) -> None:
    """ "Is this a robot?", "¿habla español?", "is this a scam?" and garbled audio can come
    in the first turn: the identity stage's context holds the rule for each."""
    live = await start_call(
        [Rule(r".", Turn("Yes, I'm an automated assistant."))], identified=False
    )
    await live.session.run(user_input="Is this a robot?")
    context = " ".join(
        (item.text_content or "") for item in live.llm.requests[-1].items if item.type == "message"
    )
    plain = " ".join(context.split())
    for rule in (
        "Say plainly that you are an automated assistant whenever asked whether you are a robot",
        "If they speak another language, answer with one sentence in that language",
        "¿quiere que le pase con una persona o que le llamemos más tarde?",
        "If they ask how you got their number or whether this is a scam, say calmly that "
        "Bright Smile Dental has this number in the patient's records, and give the practice's "
        "number",
        "If you could not make out what they said (garbled, cut off, noise), ask them to repeat",
    ):
        assert rule in plain, rule
