"""The scheduling agent: the appointment conversation, once the person on the line is
confirmed (see :mod:`.identity`, the stage before it), and the prompts of the call.

The tools act on the call's own :class:`CallState` only: the patient and the
appointments the call was placed for (one, or the patient's several on one day). No tool
takes a patient or appointment id from the LLM, only the number of one of the call's own
appointments and the short ids of the times offered on this call, so nothing a callee says
can reach anyone else's data.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta
from typing import Any

from livekit.agents import NOT_GIVEN, Agent, RunContext, ToolError, function_tool, llm

from ..errors import ScheduleUnavailable, SchedulingError, SlotUnavailable
from ..store.scheduling import Appointment, Slot
from . import prompts
from .briefing import describe_appointments
from .line_tools import LINE_TOOLS, leave_message_for_office, log, used
from .offers import MAX_RANGE_DAYS, PartOfDay, Search, days, find
from .speech import speak_date, speak_phone, speak_time, speak_when
from .state import CallState, Practice, as_data

DEFAULT_VISIT = timedelta(minutes=30)
CALENDAR_DAYS = 14
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def describe_location(practice: Practice) -> str:
    """The instructions' line about where the practice is."""
    if not practice.address:
        return (
            "The practice's address is not on file: if they ask where it is, offer that the "
            "office calls them back"
        )
    line = f"The practice's address, if they ask where to go: {as_data(practice.address)}"
    if practice.parking:
        line += f"; parking: {as_data(practice.parking)}"
    return line


def describe_hours(practice: Practice) -> str:
    """The instructions' line about the opening hours, weekdays with the same hours joined
    ("Monday to Friday: 8 in the morning to noon and 1 in the afternoon to 5 ...")."""
    if not practice.hours:
        return "The opening hours are not on file: if asked, offer that the office calls back"
    by_day: dict[int, list[tuple[time, time]]] = {}
    for day, opens, closes in sorted(practice.hours):
        by_day.setdefault(day, []).append((opens, closes))
    spans: list[tuple[int, int, list[tuple[time, time]]]] = []
    for day, periods in by_day.items():
        if spans and spans[-1][1] == day - 1 and spans[-1][2] == periods:
            spans[-1] = (spans[-1][0], day, periods)
        else:
            spans.append((day, day, periods))

    def said(t: time) -> str:
        return speak_time(datetime.combine(datetime.min, t))

    parts = []
    for first, last, periods in spans:
        days = DAY_NAMES[first] if first == last else f"{DAY_NAMES[first]} to {DAY_NAMES[last]}"
        hours = " and ".join(f"{said(a)} to {said(b)}" for a, b in periods)
        parts.append(f"{days}: {hours}")
    return "Opening hours: " + "; ".join(parts) + "; closed on other days"


def describe_calendar(state: CallState) -> str:
    today = state.today()
    days = []
    for n in range(CALENDAR_DAYS):
        day = today + timedelta(days=n)
        tag = " (today)" if n == 0 else " (tomorrow)" if n == 1 else ""
        days.append(f"{day:%A} {day.isoformat()}{tag}")
    return ", ".join(days)


def appointment_kind(appt: Appointment) -> str:
    """``their "Cleaning"`` or ``their appointment``."""
    return f"their {as_data(appt.type_name)}" if appt.type_name else "their appointment"


def call_facts(state: CallState) -> dict[str, str]:
    """What both stages' instructions say of the call: the practice, today, the callback
    number, and the rules for the whole call."""
    zone, today = state.practice.zone, state.today()
    return {
        "practice_name": state.practice.name,
        "today": speak_date(today, zone) + f" ({today.isoformat()})",
        "timezone": str(zone),
        "callback_number": speak_phone(state.practice.callback_number),
        "shared_rules": prompts.render("shared_rules"),
    }


def build_instructions(state: CallState) -> str:
    return prompts.render(
        "instructions",
        **call_facts(state),
        calendar=describe_calendar(state),
        patient=as_data(state.patient_name) if state.patient_name else "name not on file",
        speaker=(
            "the patient" if state.speaker == "patient" else "the patient's parent or guardian"
        ),
        appointments=describe_appointments(state),
        location=describe_location(state.practice),
        hours=describe_hours(state.practice),
    )


def build_opening(state: CallState) -> str:
    return prompts.render(
        "opening",
        practice_name=state.practice.name,
        patient=as_data(state.patient_name) if state.patient_name else "the patient",
    )


UNREACHABLE = (
    "The schedule cannot be reached right now. Apologise, say nothing was changed, and offer "
    "to transfer them to the practice staff or have the office call them back."
)


def build_check_in() -> str:
    return prompts.render("check_in")


def build_silent_goodbye(state: CallState) -> str:
    return prompts.render(
        "silent_goodbye",
        practice_name=state.practice.name,
        callback_number=speak_phone(state.practice.callback_number),
    )


def _interrupted(ctx: RunContext[CallState]) -> bool:
    """True when the callee talked over this turn: act on nothing from it."""
    return ctx.speech_handle.interrupted


def _user_turns(ctx: RunContext[CallState]) -> int:
    return sum(
        1 for item in ctx.session.history.items if item.type == "message" and item.role == "user"
    )


def _clock(text: str | None, what: str) -> time | None:
    if text is None or not text.strip():
        return None
    try:
        return datetime.strptime(text.strip(), "%H:%M").time()
    except ValueError:
        raise ToolError(f"Pass `{what}` as HH:MM on a 24-hour clock (5 pm is 17:00).") from None


def _day(text: str, what: str) -> date:
    text = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise ToolError(
            f"Pass `{what}` as YYYY-MM-DD; work it out from the dates in your instructions."
        )
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ToolError(
            f"{text} is not a day on the calendar (that month is shorter). Tell the patient, "
            "and ask which day they mean."
        ) from None


GREET_AFTER_IDENTITY = (
    "The person's identity is confirmed. Thank them in a few words, then ask whether they can "
    "still make their appointment, naming it, its day and its time."
)


class OutboundCaller(Agent):
    """The scheduling stage. Give it an ``llm`` to run it alone in tests; ``greet`` when it
    takes over from the identity check (it then opens this stage itself)."""

    def __init__(
        self,
        state: CallState,
        *,
        llm: llm.LLM[Any] | None = None,
        chat_ctx: llm.ChatContext | None = None,
        greet: bool = False,
    ) -> None:
        super().__init__(
            instructions=build_instructions(state),
            chat_ctx=chat_ctx if chat_ctx is not None else NOT_GIVEN,
            tools=[*LINE_TOOLS, leave_message_for_office],
            llm=llm if llm is not None else NOT_GIVEN,
        )
        self._state = state
        self._greet = greet
        self._last_search: Search | None = None

    async def on_enter(self) -> None:
        if self._greet:
            self.session.generate_reply(instructions=GREET_AFTER_IDENTITY)

    def _check(self, ctx: RunContext[CallState], tool: str) -> CallState:
        state = used(ctx, tool)
        if not state.identified or (state.must_verify() and not state.verified):
            raise ToolError(
                "The caller's identity is not confirmed: say nothing about the appointment."
            )
        return state

    @function_tool
    async def find_open_times(
        self,
        ctx: RunContext[CallState],
        from_date: str,
        to_date: str | None = None,
        part_of_day: PartOfDay = "any",
        earliest: str | None = None,
        latest: str | None = None,
        same_provider: bool = False,
        appointment: int | None = None,
    ) -> str:
        """Find open times for the appointment, as the patient asked for them. If nothing
        matches on the asked days, it moves on to the next day that has a match.

        Args:
            from_date: The first day to look at, as YYYY-MM-DD.
            to_date: The last day to look at, as YYYY-MM-DD ("next week" is its Monday to
                Friday); leave empty for just `from_date`. At most two weeks.
            part_of_day: "morning" (before noon), "afternoon" (noon to 5 pm), "evening"
                (from 5 pm) or "any".
            earliest: The earliest start they accept, as HH:MM ("after 5 pm" is 17:00).
            latest: The latest start they accept, as HH:MM.
            same_provider: True when they want to keep the provider they have.
            appointment: Which of the patient's appointments, by its number in your
                instructions; leave empty when they have only one.
        """
        state = self._check(ctx, "find_open_times")
        first = _day(from_date, "from_date")
        last = _day(to_date, "to_date") if to_date else first
        if last < first:
            raise ToolError("`to_date` is before `from_date`; check the days.")
        last = min(last, first + timedelta(days=MAX_RANGE_DAYS - 1))
        current = state.pick(appointment)[1] if state.appointments else None
        search = Search(
            first=first,
            last=last,
            duration=current.duration if current else DEFAULT_VISIT,
            type_name=current.type_name if current else None,
            provider=current.provider if current and same_provider else None,
            part=part_of_day,
            earliest=_clock(earliest, "earliest"),
            latest=_clock(latest, "latest"),
        )
        self._last_search = search
        return await self._offer(state, search, current)

    async def _offer(self, state: CallState, search: Search, current: Appointment | None) -> str:
        zone = state.practice.zone
        async with self._speakable(state):
            found = await find(state.scheduler, search, zone)
        asked = speak_date(search.first, zone)
        if search.last != search.first:
            asked += f" to {speak_date(search.last, zone)}"
        if not found.options:
            return (
                f"Nothing matches from {asked} or in the two weeks after. Tell the patient, "
                "and offer other days or times, or that the office calls them back."
            )
        listed = "; ".join(self._option(state, s, current) for s in found.options)
        head = (
            f"Nothing matches on {asked}. The next day with a match:"
            if found.moved_on
            else "Open times:"
        )
        tail = (
            f" {found.more} more open times match; offer them if these do not suit."
            if found.more
            else ""
        )
        moved = ""
        if found.moved_on:
            closed = all(state.practice.closed_on(d) for d in days(search.first, search.last))
            moved = (
                " Tell the patient the office is closed then before offering these."
                if closed
                else " Tell the patient their day is full before offering these."
            )
        return (
            f"{head} {listed}.{tail}{moved} Offer two or three, each with its provider. To book "
            "one, call move_appointment with its option id."
        )

    def _option(self, state: CallState, slot: Slot, current: Appointment | None) -> str:
        option = f"s{len(state.offers) + 1}"
        state.offers[option] = slot
        when = speak_when(slot.start, state.practice.zone, today=state.today())
        text = f"{option}: {when} with {slot.provider}"
        if current is not None and slot.provider != current.provider:
            text += f" (not their usual {current.provider}: say so)"
        return text

    @asynccontextmanager
    async def _speakable(self, state: CallState) -> AsyncIterator[None]:
        """Scheduling errors become instructions for the model; an outage is also recorded
        on the call, and a slot just taken comes with the alternatives."""
        try:
            yield
        except ScheduleUnavailable:
            state.record.errors.append("schedule unavailable")
            log(state, "schedule unavailable")
            raise ToolError(UNREACHABLE) from None
        except SlotUnavailable as exc:
            raise ToolError(await self._alternatives(state, str(exc))) from None
        except SchedulingError as exc:
            raise ToolError(
                f"Not done: {exc} Tell the patient in your own words, and offer what you can."
            ) from None

    async def _alternatives(self, state: CallState, taken: str) -> str:
        """The refusal for a time that was just taken, with the search's other options."""
        told = f"Not booked: {taken} Tell the patient"
        if self._last_search is None:
            return f"{told}, and offer to look for another time."
        try:
            offered = await self._offer(state, self._last_search, None)
        except ToolError:
            return f"{told}, and offer to look for another time."
        return f"{told}, then: {offered}"

    async def _write(
        self,
        ctx: RunContext[CallState],
        index: int,
        write: Callable[[], Awaitable[Appointment]],
        change: Callable[[Appointment], str],
        event: str,
    ) -> Appointment:
        """Write one change to the call's appointment ``index`` while holding the floor;
        the call's copy, its record and the log follow the store's answer."""
        state = ctx.userdata
        ctx.disallow_interruptions()
        async with self._speakable(state):
            after = await write()
        state.appointments[index] = after
        self._changed(state, change(after), after.id)
        log(state, event, appointment_id=after.id)
        return after

    def _changed(self, state: CallState, change: str, appointment_id: str) -> None:
        """Note ``change`` on the call's record: naming the appointment when there are several."""
        if len(state.appointments) > 1:
            change = f"appointment {appointment_id} {change}"
        state.record.changes.append(change)

    @function_tool
    async def confirm_appointment(
        self, ctx: RunContext[CallState], appointment: int | None = None
    ) -> str:
        """Confirm the appointment at the time it already has. Not for a new time (that is
        move_appointment).

        Args:
            appointment: Which of the patient's appointments, by its number in your
                instructions; leave empty when they have only one.
        """
        state = self._check(ctx, "confirm_appointment")
        index, before = state.pick(appointment)
        if _interrupted(ctx):
            return "The patient interrupted; nothing was changed. Ask again."
        after = await self._write(
            ctx,
            index,
            lambda: state.scheduler.confirm(before.id),
            lambda a: f"confirmed {a.start.isoformat()}",
            "appointment confirmed",
        )
        when = speak_when(after.start, state.practice.zone, today=state.today())
        return f"Confirmed: {when} with {after.provider}. Tell the patient it is confirmed."

    @function_tool
    async def move_appointment(
        self, ctx: RunContext[CallState], option: str, appointment: int | None = None
    ) -> str:
        """Move the appointment to one of the times find_open_times offered. The first call
        only gives you the time to read back; after the patient says yes to it, call again
        with the same option to book it.

        Args:
            option: The option id find_open_times gave for the time they chose ("s2").
            appointment: Which of the patient's appointments, by its number in your
                instructions; leave empty when they have only one.
        """
        state = self._check(ctx, "move_appointment")
        index, before = state.pick(appointment)
        key = option.strip().lower()
        slot = state.offers.get(key)
        if slot is None:
            raise ToolError(
                f"There is no option {option!r} on this call: use an option id from "
                "find_open_times, or look the times up again."
            )
        if _interrupted(ctx):
            return "The patient interrupted; nothing was changed. Ask again."
        zone, today = state.practice.zone, state.today()
        turns = _user_turns(ctx)
        said = state.read_back
        if said is None or said[0] != key or said[1] >= turns:
            state.read_back = (key, turns)
            return (
                f"Not booked yet. Read it back: {speak_when(slot.start, zone, today=today)} "
                f"with {slot.provider}, and ask whether that is right. Only after they say "
                f"yes, call move_appointment again with option {key}."
            )
        state.read_back = None
        after = await self._write(
            ctx,
            index,
            lambda: state.scheduler.reschedule(before.id, slot.id),
            lambda a: f"rescheduled {before.start.isoformat()} -> {a.start.isoformat()}",
            "appointment rescheduled",
        )
        return (
            f"Moved and confirmed: {speak_when(after.start, zone, today=today)} with "
            f"{after.provider}. Tell the patient the new time."
        )

    @function_tool
    async def cancel_appointment(
        self, ctx: RunContext[CallState], appointment: int | None = None
    ) -> str:
        """Cancel the patient's appointment. Only after they have clearly asked to cancel
        and said no to moving it to another time.

        Args:
            appointment: Which of the patient's appointments, by its number in your
                instructions; leave empty when they have only one.
        """
        state = self._check(ctx, "cancel_appointment")
        index, before = state.pick(appointment)
        if _interrupted(ctx):
            return "The patient interrupted; nothing was changed. Ask again."
        after = await self._write(
            ctx,
            index,
            lambda: state.scheduler.cancel(before.id),
            lambda a: f"cancelled {a.start.isoformat()}",
            "appointment cancelled",
        )
        when = speak_when(after.start, state.practice.zone, today=state.today())
        return f"Cancelled the appointment on {when}. Tell the patient it is cancelled."
