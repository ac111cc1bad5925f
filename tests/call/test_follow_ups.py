"""What a call leaves for later, through the real session and tools: a callback the
patient asked for, a message for the office, how the call ends (each reason recorded as
given), and holding on without the silence check hanging up."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from conftest import NOW, StartCall
from helpers import eventually
from livekit_stub import LiveKitStub
from outbound_caller.call.line_tools import end_call
from outbound_caller.cli.scripted import Rule, ToolCall, Turn


async def test_call_me_after_five_records_the_callback_and_ends_the_call(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call(
        [
            Rule(
                r"^i'm driving",
                Turn(
                    "",
                    (
                        ToolCall(
                            "request_callback", {"when": "2026-11-30 17:00", "note": "driving"}
                        ),
                    ),
                ),
            ),
            Rule(r"^request_callback ->", Turn("Sure, we'll call you after five. Bye!")),
        ],
        identified=False,  # no details needed: anyone may ask for a callback
    )
    result = await live.session.run(user_input="I'm driving, call me after 5.")
    result.expect.next_event().is_function_call(name="request_callback")
    output = result.expect.next_event().is_function_call_output().event().item.output
    assert output.startswith("Callback noted for today, Monday, November 30th at 5 in the evening.")
    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    await eventually(lambda: len(livekit_server.calls("DeleteRoom")) == 1)
    record = live.state.record
    assert record.hangup_reason == "callback_requested"
    assert record.callback_at == datetime(2026, 11, 30, 22, 0, tzinfo=UTC)
    assert record.callback_note == "driving"


@pytest.mark.parametrize(
    ("when", "error"),
    [
        ("2026-11-30 08:00", "That time has already passed"),
        ("2026-12-30 10:00", "more than two weeks away"),
        ("after five", "Pass `when` as YYYY-MM-DD HH:MM"),
        ("2026-02-30 10:00", "not a real date or time"),
    ],
)
async def test_a_callback_time_that_cannot_be_kept_is_refused_and_the_call_goes_on(
    start_call: StartCall, livekit_server: LiveKitStub, when: str, error: str
) -> None:
    live = await start_call(
        [
            Rule(r"^call me", Turn("", (ToolCall("request_callback", {"when": when}),))),
            Rule(r"^request_callback ->", Turn("When would suit you?")),
        ]
    )
    result = await live.session.run(user_input="Call me back then.")
    result.expect.skip_next()
    output = result.expect.next_event().is_function_call_output().event().item
    assert output.is_error
    assert error in output.output
    assert live.state.record.callback_at is None
    assert live.state.record.hangup_reason is None
    assert livekit_server.calls("DeleteRoom") == []


async def test_later_today_is_two_hours_from_now(start_call: StartCall) -> None:
    live = await start_call(
        [
            Rule(r"^later", Turn("", (ToolCall("request_callback"),))),
            Rule(r"^request_callback ->", Turn("Okay, bye!")),
        ]
    )
    await live.session.run(user_input="Later today, please.")
    assert live.state.record.callback_at == NOW + (datetime(2026, 1, 1, 2) - datetime(2026, 1, 1))


async def test_a_message_for_the_office_is_kept_and_the_call_goes_on(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call(
        [
            Rule(
                r"insurance",
                Turn(
                    "",
                    (
                        ToolCall(
                            "leave_message_for_office",
                            {"note": "Insurance changed   to\nDelta Dental."},
                        ),
                    ),
                ),
            ),
            Rule(r"^leave_message_for_office ->", Turn("I've passed that on. Anything else?")),
        ]
    )
    result = await live.session.run(user_input="My insurance changed, how much will it cost?")
    result.expect.next_event().is_function_call(name="leave_message_for_office")
    output = result.expect.next_event().is_function_call_output().event().item.output
    assert output.startswith("Message saved for the office staff")
    result.expect.next_event().is_message(role="assistant")
    assert live.state.record.office_messages == ["Insurance changed to Delta Dental."]
    assert livekit_server.calls("DeleteRoom") == []  # still on the call
    assert live.state.record.hangup_reason is None


def test_the_end_reason_is_required_and_each_value_is_documented() -> None:
    schema = end_call.info  # the framework's tool description, as the model gets it
    params = inspect.signature(end_call).parameters
    assert params["reason"].default is inspect.Parameter.empty  # no silent default
    doc = inspect.getdoc(end_call) or ""
    for value in ("completed", "patient_request", "do_not_call", "not_interested", "wrong_number"):
        assert f'"{value}":' in doc, value
    assert '"stop calling me", "take me\n                off your list", "don\'t call again"' in (
        end_call.__doc__ or ""
    )
    assert schema.name == "end_call"


async def test_end_call_without_a_reason_ends_nothing(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call(
        [
            Rule(r"^bye", Turn("", (ToolCall("end_call"),))),
            Rule(r"^end_call ->", Turn("Sorry?")),
        ]
    )
    result = await live.session.run(user_input="Bye.")
    result.expect.skip_next()
    output = result.expect.next_event().is_function_call_output().event().item
    assert output.is_error
    assert live.state.record.hangup_reason is None
    assert livekit_server.calls("DeleteRoom") == []


async def test_confirm_and_goodbye_in_one_breath_confirms_first_then_ends(
    start_call: StartCall, livekit_server: LiveKitStub
) -> None:
    live = await start_call(
        [
            Rule(
                r"^yep",
                Turn(
                    "",
                    (
                        ToolCall("confirm_appointment"),
                        ToolCall("end_call", {"reason": "completed"}),
                    ),
                ),
            ),
            Rule(r" -> ", Turn("You're confirmed. Goodbye!")),
        ]
    )
    await live.session.run(user_input="Yep I'll be there, thanks, bye!")
    await eventually(lambda: len(livekit_server.calls("DeleteRoom")) == 1)
    assert (await live.scheduler.get_appointment("appt-1")).status == "confirmed"
    assert live.state.record.changes == ["confirmed 2026-12-01T14:30:00-05:00"]
    assert live.state.record.hangup_reason == "completed"


def test_the_instructions_map_opt_out_phrases_and_keep_bare_stops_from_ending() -> None:
    from outbound_caller.call import prompts

    rules = " ".join(prompts.render("shared_rules").split())
    assert (
        '"Stop calling me", "take me off your list" or "don\'t call again" is reason "do_not_call"'
    ) in rules
    assert 'A bare "stop" or "wait" in the middle of a sentence is not an ending' in rules
    assert '"Hold on", "wait" or "one second" on their own mean they need a moment' in rules
    assert "Say plainly that you are an automated assistant" in rules
    assert "answer with one sentence in that language" in rules
    assert "ask them to repeat it" in rules
