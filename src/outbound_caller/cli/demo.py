"""The offline demo: one complete call with no accounts and no network.

The real agent class, its real tools and the real scheduling store (a SQLite file by
default, seeded with the demo practice when empty) run inside a real ``AgentSession`` in
text mode. A scripted callee asks to move the appointment, and a
scripted LLM stands in for GPT-4o (or, with ``live_llm``, the real model answers).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from livekit.agents import AgentSession, APIError, APIStatusError, llm
from livekit.agents.voice.run_result import (
    AgentHandoffEvent,
    ChatMessageEvent,
    FunctionCallEvent,
    FunctionCallOutputEvent,
    RunEvent,
    RunResult,
)

from ..call.context import CallContext, store_context
from ..call.identity import IdentityCheck
from ..call.speech import speak_date, speak_when
from ..call.state import CallState
from ..dispatch import DispatchMetadata
from ..errors import OutboundCallerError
from ..outcome import CallRecord, CallStatus
from ..store.appointments import AppointmentRow, Store
from ..store.database import DEFAULT_SQLITE_FILE, redact
from ..store.seed import seed_demo
from .scripted import Rule, ScriptedLLM, ToolCall, Turn

DEMO_SEARCH_DAYS = 14

CALLEE_LINES = [
    "Hello?",
    "Yes, this is {first_name}.",
    "Actually, could we move it to {day_name} instead?",
    "The last one, please.",
    "Yes, that's right.",
    "No, that's all. Thanks, bye!",
]


@dataclass
class DemoLine:
    """The demo's phone line: nothing to dial, it only notes what happened."""

    events: list[str] = field(default_factory=list)

    async def transfer(self, to_number: str) -> None:
        self.events.append(f"transferred to {to_number}")

    async def warm_transfer(self, to_number: str, *, briefing: str) -> None:
        self.events.append(f"transferred to {to_number} after a briefing")

    def hang_up_soon(self, reason: str) -> None:
        self.events.append(f"hung up ({reason})")

    def machine_reached(self) -> None:
        self.hang_up_soon("voicemail")

    def hold(self) -> None:
        self.events.append("holding on")


OPTION = re.compile(
    r"(s\d+): [^;]*? at (\d{1,2}(?::\d\d)? in the (?:morning|afternoon|evening)|noon) "
    r"with (.+?)( \(not their usual .*?: say so\))?(?=; s\d+: |\. (?:\d+ more|Offer|Tell))"
)


def demo_llm(context: CallContext, other_day: date, about: int, today: date) -> ScriptedLLM:
    """The script GPT-4o's part follows in the demo, about appointment ``about``."""
    [number] = [n for n, a in enumerate(context.appointments, 1) if a.id == str(about)]
    appointment = context.appointments[number - 1]
    which = {"appointment": number} if len(context.appointments) > 1 else {}
    name = context.patient_name or "there"
    first = name.split()[0]
    offered: list[tuple[str, str]] = []  # (what to say, option id)

    def offer(output: str) -> Turn:
        offered[:] = [
            (f"{when} with {who}" + (" (not your usual provider)" if other else ""), option)
            for option, when, who, other in OPTION.findall(output)
        ]
        picks = [offered[0], offered[len(offered) // 2], offered[-1]] if offered else []
        picks = list(dict.fromkeys(picks))
        if not picks:
            return Turn("I'm sorry, that day is fully booked. Would another day work?")
        if len(picks) == 1:
            return Turn(f"On {speak_date(other_day, zone)} I have {picks[0][0]}. Would that work?")
        times = ", ".join(w for w, _ in picks[:-1]) + f", or {picks[-1][0]}"
        return Turn(f"On {speak_date(other_day, zone)} I have {times}. Which would you like?")

    def pick(_: str) -> Turn:
        if not offered:  # the day was full (many demo runs fill it): nothing to book
            return Turn("I'm sorry, I have nothing open that day, so your appointment stays.")
        return Turn("", (ToolCall("move_appointment", {"option": offered[-1][1], **which}),))

    zone = context.practice.zone
    when = speak_when(appointment.start, zone, today=today)
    kind = f"{appointment.type_name.lower()} " if appointment.type_name else "appointment "
    return ScriptedLLM(
        [
            Rule(
                r"^hello",
                Turn(
                    f"Hi, this is the automated scheduling assistant calling from "
                    f"{context.practice.name}. Am I speaking with {name}?"
                ),
            ),
            Rule(
                r"^yes, this is",
                Turn("", (ToolCall("confirmed_identity", {"speaker": "patient"}),)),
            ),
            Rule(
                r"identity is confirmed",
                Turn(
                    f"Thanks, {first}. I'm calling about your {kind}{when} with "
                    f"{appointment.provider}. Can you still make it?"
                ),
            ),
            Rule(
                r"could we move it",
                Turn(
                    "One moment.",
                    (ToolCall("find_open_times", {"from_date": other_day.isoformat(), **which}),),
                ),
            ),
            Rule(r"^find_open_times ->", offer),
            Rule(r"the last one", pick),
            Rule(
                r"^move_appointment -> not booked yet\. read it back: ",
                lambda out: Turn(
                    "Just to check: "
                    + out.split("Read it back: ", 1)[1].split(", and ask", 1)[0]
                    + ". Is that right?"
                ),
            ),
            Rule(r"^yes, that's right", pick),
            Rule(
                r"^move_appointment -> moved and confirmed: ",
                lambda out: Turn(
                    "Done! You're now booked for "
                    + out.split("Moved and confirmed: ", 1)[1].split(". Tell", 1)[0]
                    + ". Is there anything else I can help with?"
                ),
            ),
            Rule(r"that's all", Turn("", (ToolCall("end_call", {"reason": "completed"}),))),
            Rule(r"^end_call ->", Turn(f"Thanks, {first}. Have a great day. Goodbye!")),
        ]
    )


class ModelUnavailable(OutboundCallerError):
    """The live model refused the demo's request or could not be reached."""


def _explain(exc: APIError) -> str:
    if isinstance(exc, APIStatusError) and exc.status_code in (401, 403):
        return (
            f"the model's provider refused the key ({exc.status_code}); check OPENAI_API_KEY "
            "(and OPENAI_BASE_URL, if set)"
        )
    if isinstance(exc, APIStatusError):
        return f"the model's provider answered {exc.status_code}: {exc.message}"
    return f"the model's provider could not be reached: {exc.message}"


@contextmanager
def _quiet_framework() -> Iterator[None]:
    """The demo prints the conversation; a failing model is reported once, as one line, so
    the framework's own error logs (a traceback per retry) stay out of the way."""
    framework = logging.getLogger("livekit.agents")
    level = framework.level
    framework.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        framework.setLevel(level)


def describe(row: AppointmentRow, zone: ZoneInfo) -> str:
    return (
        f"#{row.id}  {row.start.astimezone(zone):%a %Y-%m-%d %H:%M %Z}  {row.patient_name}  "
        f"{row.provider_name}  {row.type_name}  status={row.status}"
    )


def format_event(event: RunEvent) -> str | None:
    if isinstance(event, ChatMessageEvent) and event.item.role == "assistant":
        return f"  agent:  {event.item.text_content}"
    if isinstance(event, FunctionCallEvent):
        return f"  agent → {event.item.name}({event.item.arguments})"
    if isinstance(event, FunctionCallOutputEvent):
        return f"  tool  ← {event.item.output or '(no output)'}"
    if isinstance(event, AgentHandoffEvent):
        return (
            "  [identity confirmed: the scheduling agent, which holds the appointment, takes over]"
        )
    return None


class DemoUnavailable(OutboundCallerError):
    """The demo has nothing left to call about."""


async def next_appointment(store: Store, now: datetime) -> AppointmentRow:
    for row in await store.appointments(status="scheduled"):
        if row.start > now + timedelta(hours=12):
            return row
    raise DemoUnavailable(
        "no scheduled appointments left to call about in this database; delete "
        f"{DEFAULT_SQLITE_FILE} (or point DATABASE_URL at a fresh one) to start over"
    )


async def open_day_after(store: Store, row: AppointmentRow, zone: ZoneInfo) -> date:
    """The day the scripted callee asks for: the first weekday from two days after the
    appointment with a free time for it (so no date, Christmas or a full week included,
    leaves the demo with nothing to offer)."""
    day = row.start.astimezone(zone).date() + timedelta(days=2)
    for _ in range(DEMO_SEARCH_DAYS):
        if day.weekday() < 5 and await store.availability(
            row.practice_id, day, minutes=row.minutes
        ):
            return day
        day += timedelta(days=1)
    return day  # a practice this full: the script says there is nothing open


async def run_demo(
    store: Store,
    *,
    now: datetime,
    model: llm.LLM[Any] | None = None,
    out: Callable[[str], Any] = print,
) -> CallState:
    """Play the demo call against ``store`` (seeding the demo practice into an empty one),
    printing it turn by turn; returns the call's final state."""
    await store.upgrade()
    practice_id = await seed_demo(store, today=now.date())
    info = await store.practice(practice_id)
    row = await next_appointment(store, now)
    meta = DispatchMetadata(phone_number=row.patient_phone, appointment_id=row.id)
    context = await store_context(store, meta, by="demo")
    other_day = await open_day_after(store, row, info.zone)

    line = DemoLine()
    record = CallRecord(started_at=now, status=CallStatus.ANSWERED, answered_at=now)
    state = CallState(
        practice=context.practice,
        scheduler=context.scheduler,
        line=line,
        record=record,
        now=lambda: now,
        patient_name=context.patient_name,
        appointments=list(context.appointments),
        transfer_to=None,
    )
    if model is None:
        out(
            "LLM: a scripted stand-in for GPT-4o (no network, no accounts); "
            "the agent, its tools and the scheduling store are the real ones."
        )
        model = demo_llm(context, other_day, row.id, now.astimezone(info.zone).date())
    else:
        out(f"LLM: {model.model} (live, text mode)")
    out(f"Store: {redact(store.url)}")
    out(f"\nAppointment before the call: {describe(row, info.zone)}\n")

    first_name = (context.patient_name or "").split(" ")[0]
    with _quiet_framework():
        async with AgentSession[CallState](llm=model, userdata=state) as session:
            await session.start(IdentityCheck(state))
            for text in CALLEE_LINES:
                said = text.format(first_name=first_name, day_name=speak_date(other_day, info.zone))
                out(f"callee:  {said}")
                try:
                    result: RunResult[None] = await session.run(user_input=said)
                except APIError as exc:
                    raise ModelUnavailable(_explain(exc)) from None
                for event in result.events:
                    if (shown := format_event(event)) is not None:
                        out(shown)
                if line.events and line.events[-1].startswith("hung up"):
                    break
    for note in line.events:
        out(f"[line] {note}")
    after = await store.appointment(row.id)
    out(f"\nAppointment after the call:  {describe(after, info.zone)}")
    out(f"Outcome: {record.status.value}; tools used: {', '.join(record.tools_used)}")
    return state
