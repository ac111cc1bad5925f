"""The offline demo: one complete call with no accounts and no network.

The real agent class, its real tools and the real scheduling code run inside a real
``AgentSession`` in text mode. A scripted callee asks to move the appointment, and a
scripted LLM stands in for GPT-4o (or, with ``live_llm``, the real model answers).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from livekit.agents import AgentSession, llm
from livekit.agents.voice.run_result import (
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    RunEvent,
    RunResult,
)

from .agent import CallState, OutboundCaller, Practice
from .outcome import CallRecord, CallStatus
from .scheduling import Appointment, InMemoryScheduler
from .scripted import Rule, ScriptedLLM, ToolCall, Turn
from .speech import speak_date, speak_when

PRACTICE = Practice("Bright Smile Dental", ZoneInfo("America/New_York"), "+14155550100")
PATIENT = "Jane Doe"

CALLEE_LINES = [
    "Hello?",
    "Yes, this is Jane.",
    "Actually, could we move it to {day_name} instead?",
    "The last one, please.",
    "No, that's all. Thanks, bye!",
]


@dataclass
class DemoLine:
    """The demo's phone line: nothing to dial, it only notes what happened."""

    events: list[str] = field(default_factory=list)

    async def transfer(self, to_number: str) -> None:
        self.events.append(f"transferred to {to_number}")

    def hang_up_soon(self, reason: str) -> None:
        self.events.append(f"hung up ({reason})")


def demo_schedule(now: datetime) -> tuple[InMemoryScheduler, Appointment, date]:
    zone = PRACTICE.zone
    today = now.astimezone(zone).date()
    first = today + timedelta(days=1)
    while first.weekday() >= 5:
        first += timedelta(days=1)
    start = datetime.combine(first, time(14, 30), zone).astimezone(UTC)
    appointment = Appointment(
        "appt-1001", PATIENT, start, start + timedelta(minutes=30), "Dr. Rivera"
    )
    other_day = first + timedelta(days=2)  # another weekday, later that week or the next
    while other_day.weekday() >= 5:
        other_day += timedelta(days=1)
    booked = [
        Appointment(
            f"appt-{2000 + i}",
            "another patient",
            datetime.combine(other_day, t, zone).astimezone(UTC),
            datetime.combine(other_day, t, zone).astimezone(UTC) + timedelta(minutes=30),
            "Dr. Rivera",
        )
        for i, t in enumerate([time(9, 0), time(10, 30), time(13, 0), time(15, 30)])
    ]
    scheduler = InMemoryScheduler(
        zone=zone, now=lambda: now, providers=["Dr. Rivera"], appointments=[appointment, *booked]
    )
    return scheduler, appointment, other_day


SLOT = re.compile(
    r"(\d{1,2}(?::\d\d)? in the (?:morning|afternoon|evening)|noon) with "
    r"([^()]+?) \(slot id (slot_\w+)\)"
)


def demo_llm(appointment: Appointment, other_day: date) -> ScriptedLLM:
    """The script GPT-4o's part follows in the demo."""
    offered: list[tuple[str, str]] = []

    def offer(output: str) -> Turn:
        offered[:] = [(when, sid) for when, _, sid in SLOT.findall(output)]
        picks = [offered[0], offered[len(offered) // 2], offered[-1]] if offered else []
        if not picks:
            return Turn("I'm sorry, that day is fully booked. Would another day work?")
        times = ", ".join(w for w, _ in picks[:-1]) + f", or {picks[-1][0]}"
        return Turn(f"On {speak_date(other_day)} I have {times}. Which would you like?")

    def book(_: str) -> Turn:
        return Turn("", (ToolCall("confirm_appointment", {"slot_id": offered[-1][1]}),))

    when = speak_when(appointment.start, PRACTICE.zone)
    return ScriptedLLM(
        [
            Rule(
                r"^hello",
                Turn(
                    f"Hi, this is the automated scheduling assistant calling from "
                    f"{PRACTICE.name}. Am I speaking with {PATIENT}?"
                ),
            ),
            Rule(
                r"this is jane",
                Turn(
                    f"Thanks, Jane. I'm calling about your appointment on {when} with "
                    f"{appointment.provider}. Can you still make it?"
                ),
            ),
            Rule(
                r"could we move it",
                Turn("", (ToolCall("look_up_availability", {"date": other_day.isoformat()}),)),
            ),
            Rule(r"^look_up_availability ->", offer),
            Rule(r"the last one", book),
            Rule(
                r"^confirm_appointment -> moved and confirmed: (.*)\.$",
                lambda out: Turn(
                    "Done! You're now booked for "
                    + out.split("Moved and confirmed: ", 1)[1].rstrip(".")
                    + ". Is there anything else I can help with?"
                ),
            ),
            Rule(r"that's all", Turn("", (ToolCall("end_call", {"reason": "completed"}),))),
            Rule(r"^end_call ->", Turn("Thanks, Jane. Have a great day. Goodbye!")),
        ]
    )


def describe(appointment: Appointment) -> str:
    return (
        f"{appointment.id}  {appointment.start.astimezone(PRACTICE.zone):%a %Y-%m-%d %H:%M %Z}"
        f"  {appointment.provider}  status={appointment.status}"
    )


def format_event(event: RunEvent) -> str | None:
    if isinstance(event, ChatMessageEvent) and event.item.role == "assistant":
        return f"  agent:  {event.item.text_content}"
    if isinstance(event, FunctionCallEvent):
        return f"  agent → {event.item.name}({event.item.arguments})"
    if isinstance(event, FunctionCallOutputEvent):
        return f"  tool  ← {event.item.output or '(no output)'}"
    return None


async def run_demo(
    *,
    now: datetime | None = None,
    model: llm.LLM[Any] | None = None,
    out: Callable[[str], Any] = print,
) -> CallState:
    """Play the demo call, printing it turn by turn; returns the call's final state."""
    now = now or datetime.now(UTC)
    scheduler, appointment, other_day = demo_schedule(now)
    line = DemoLine()
    record = CallRecord(started_at=now, status=CallStatus.ANSWERED, answered_at=now)
    state = CallState(
        practice=PRACTICE,
        scheduler=scheduler,
        line=line,
        record=record,
        now=lambda: now,
        patient_name=PATIENT,
        appointment=appointment,
        transfer_to="+14155550199",
    )
    if model is None:
        out(
            "LLM: a scripted stand-in for GPT-4o (no network, no accounts); "
            "the agent, its tools and the scheduling code are the real ones."
        )
        model = demo_llm(appointment, other_day)
    else:
        out(f"LLM: {model.model} (live, text mode)")
    before = appointment
    out(f"\nAppointment before the call: {describe(before)}\n")

    async with AgentSession[CallState](llm=model, userdata=state) as session:
        await session.start(OutboundCaller(state))
        for line_text in CALLEE_LINES:
            said = line_text.format(day_name=speak_date(other_day))
            out(f"callee:  {said}")
            result: RunResult[None] = await session.run(user_input=said)
            for event in result.events:
                if (text := format_event(event)) is not None:
                    out(text)
            if line.events and line.events[-1].startswith("hung up"):
                break
    for note in line.events:
        out(f"[line] {note}")
    after = state.appointment or before
    out(f"\nAppointment after the call:  {describe(after)}")
    out(f"Outcome: {record.status.value}; tools used: {', '.join(record.tools_used)}")
    return state
