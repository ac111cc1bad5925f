"""The tools' guards, each tripped: the identity gate on every scheduling tool, the
attempt limit, and the interruption check before anything changes."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from livekit.agents import ToolError

from conftest import NOW, NY, PRACTICE, StartCall, jane_appointment
from outbound_caller.call.agent import OutboundCaller
from outbound_caller.call.line_tools import transfer_call
from outbound_caller.call.state import CallState
from outbound_caller.cli.scripted import Rule, ToolCall, Turn
from outbound_caller.outcome import CallRecord
from outbound_caller.store.scheduling import InMemoryScheduler

BIRTHDAY = date(1985, 3, 14)
SCHEDULING_CALLS = [
    ToolCall("find_open_times", {"from_date": "2026-12-02"}),
    ToolCall("confirm_appointment"),
    ToolCall("move_appointment", {"option": "s1"}),
    ToolCall("cancel_appointment"),
]


@pytest.mark.parametrize("call", SCHEDULING_CALLS, ids=lambda c: f"{c.name}{c.arguments}")
@pytest.mark.parametrize("stage", ["identity check", "scheduling agent, unconfirmed"])
async def test_every_scheduling_tool_is_refused_before_the_identity_is_confirmed(
    start_call: StartCall, call: ToolCall, stage: str
) -> None:
    """At the identity stage the tools do not exist; the scheduling agent's own check is
    the second line, should it ever be reached with the person unconfirmed."""
    at_scheduling = stage.startswith("scheduling")
    live = await start_call(
        [Rule(r"^please", Turn("", (call,))), Rule(r" -> ", Turn("Okay."))],
        date_of_birth=BIRTHDAY,
        identified=at_scheduling,
    )
    if at_scheduling:
        live.state.identified = False
    result = await live.session.run(user_input="Please do it.")
    refused = result.expect.next_event(type="function_call_output").event().item
    assert refused.is_error
    if at_scheduling:
        assert refused.output.startswith("The caller's identity is not confirmed")
    else:
        assert refused.output.startswith(f"Unknown function: {call.name}")
    assert "December" not in refused.output  # nothing about the appointment leaks
    stored = await live.scheduler.get_appointment("appt-1")
    assert (stored.status, stored.start) == ("scheduled", jane_appointment().start)
    assert live.state.record.changes == []


async def test_without_a_date_of_birth_check_verify_identity_says_none_is_needed(
    start_call: StartCall,
) -> None:
    live = await start_call(
        [
            Rule(
                r"^my birthday",
                Turn("", (ToolCall("verify_identity", {"date_of_birth": "1985-03-14"}),)),
            ),
            Rule(r" -> ", Turn("Okay.")),
        ],
        identified=False,
    )  # no date of birth on file: the practice does not ask
    result = await live.session.run(user_input="My birthday is March 14th 1985.")
    output = result.expect.next_event(type="function_call_output").event().item.output
    assert output == "No date of birth check is needed on this call."
    assert live.state.identified is False  # saying a birthday is not saying who you are


async def test_two_wrong_dates_of_birth_lock_the_check_even_for_the_right_one(
    start_call: StartCall, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="outbound_caller")

    def verify(day: str) -> Turn:
        return Turn("", (ToolCall("verify_identity", {"date_of_birth": day}),))

    live = await start_call(
        [
            Rule(r"^first", verify("1985-03-15")),
            Rule(r"^second", verify("1985-04-14")),
            Rule(r"^third", verify("1985-03-14")),  # the right one, too late
            Rule(r"^confirm", Turn("", (ToolCall("confirmed_identity", {"speaker": "patient"}),))),
            Rule(r" -> ", Turn("Okay.")),
        ],
        date_of_birth=BIRTHDAY,
    )
    outputs = []
    for words in ("first", "second", "third", "confirm"):
        result = await live.session.run(user_input=words)
        outputs.append(result.expect.next_event(type="function_call_output").event().item)
    assert outputs[0].output == "That does not match. Ask them to repeat the date of birth once."
    assert outputs[1].output.startswith("Not verified.")
    assert outputs[2].output.startswith("Not verified.")
    # saying "it's me" again does not get past the check
    assert outputs[3].output.startswith("Now ask for the patient's date of birth")
    assert live.state.verified is False
    assert live.state.identified is False
    assert type(live.session.current_agent).__name__ == "IdentityCheck"
    assert (await live.scheduler.get_appointment("appt-1")).status == "scheduled"
    # the log counts the failed checks (never the dates said)
    failed = [r for r in caplog.records if r.getMessage() == "identity check failed"]
    assert [r.attempt for r in failed] == [1, 2]  # type: ignore[attr-defined]
    # what a record says: its message and the fields given with it, not its timings and
    # ids (relativeCreated was once 19850.4 ms)
    standard = set(vars(logging.makeLogRecord({})))
    said = [
        f"{r.getMessage()} { ({k: v for k, v in vars(r).items() if k not in standard}) }"
        for r in caplog.records
    ]
    assert "1985" not in " ".join(said)


async def test_a_cancellation_the_patient_asked_for_cancels_the_appointment(
    start_call: StartCall,
) -> None:
    live = await start_call(
        [
            Rule(r"^please cancel", Turn("", (ToolCall("cancel_appointment"),))),
            Rule(r"^cancel_appointment -> ", lambda out: Turn(out.split(" -> ", 1)[1])),
        ]
    )
    result = await live.session.run(user_input="Please cancel it, I'm moving away.")
    result.expect.next_event().is_function_call(name="cancel_appointment", arguments={})
    result.expect.next_event().is_function_call_output(
        output="Cancelled the appointment on tomorrow, Tuesday, December 1st at 2:30 in the "
        "afternoon. Tell the patient it is cancelled."
    )
    assert (await live.scheduler.get_appointment("appt-1")).status == "cancelled"
    assert live.state.record.changes == ["cancelled 2026-12-01T14:30:00-05:00"]


# -- the interruption check, with a run context whose speech the patient talked over ------


@dataclass
class Speech:
    interrupted: bool = True
    callbacks: list[Any] = field(default_factory=list)

    def add_done_callback(self, callback: Any) -> None:
        self.callbacks.append(callback)


@dataclass
class TalkedOver:
    """What the tools use of ``RunContext``, for a turn the patient interrupted."""

    userdata: CallState
    speech_handle: Speech = field(default_factory=Speech)
    locked: bool = False

    def disallow_interruptions(self) -> None:
        self.locked = True

    async def wait_for_playout(self) -> None:
        pass


@dataclass
class Line:
    transferred: list[str] = field(default_factory=list)

    async def transfer(self, to_number: str) -> None:
        self.transferred.append(to_number)

    def hang_up_soon(self, reason: str) -> None:
        raise AssertionError("no hang-up expected")

    def machine_reached(self) -> None:
        raise AssertionError("no voicemail expected")

    def hold(self) -> None:
        pass


def call_state(scheduler: InMemoryScheduler, line: Line, slot: Any = None) -> CallState:
    return CallState(
        practice=PRACTICE,
        scheduler=scheduler,
        line=line,
        record=CallRecord(started_at=NOW),
        now=lambda: NOW,
        patient_name="Jane Doe",
        appointments=[jane_appointment()],
        transfer_to="+14155550199",
        identified=True,
        offers={"s1": slot},
        read_back=("s1", 0),
    )


async def test_nothing_changes_on_a_turn_the_patient_talked_over() -> None:
    scheduler = InMemoryScheduler(zone=NY, now=lambda: NOW, appointments=[jane_appointment()])
    line = Line()
    [slot, *_] = await scheduler.availability(
        date(2026, 12, 2), duration=jane_appointment().duration
    )
    state = call_state(scheduler, line, slot)  # s1 read back already: the next call books
    agent = OutboundCaller(state)

    def ctx() -> Any:
        return TalkedOver(state)

    said = [
        await agent.confirm_appointment(ctx()),
        await agent.move_appointment(ctx(), option="s1"),
        await agent.cancel_appointment(ctx()),
    ]
    assert said == ["The patient interrupted; nothing was changed. Ask again."] * 3
    transfer = ctx()
    assert await transfer_call(transfer) == (
        "The patient interrupted; the call was not transferred. Ask again."
    )
    assert line.transferred == []
    assert transfer.locked is False  # the patient can still talk
    stored = await scheduler.get_appointment("appt-1")
    assert (stored.status, stored.start) == ("scheduled", jane_appointment().start)
    assert state.record.changes == []


async def test_a_turn_that_was_not_talked_over_changes_the_appointment_and_holds_the_floor() -> (
    None
):
    """The same calls as above with the speech not interrupted: the check is what stopped them."""
    scheduler = InMemoryScheduler(zone=NY, now=lambda: NOW, appointments=[jane_appointment()])
    state = call_state(scheduler, Line())
    agent = OutboundCaller(state)
    heard = TalkedOver(state, Speech(interrupted=False))
    assert (await agent.confirm_appointment(heard)).startswith("Confirmed:")
    assert heard.locked is True  # no interruption while the change is made
    assert (await scheduler.get_appointment("appt-1")).status == "confirmed"
    with pytest.raises(ToolError, match="no appointment 2"):
        await agent.cancel_appointment(TalkedOver(state, Speech(interrupted=False)), appointment=2)
