"""The agent that holds the conversation, and the tools it can use.

The tools act on the call's own :class:`CallState` only: the patient and the
appointments the call was placed for (one, or the patient's several on one day). No tool
takes a patient or appointment id from the LLM, only the number of one of the call's own
appointments, so nothing a callee says can reach anyone else's data.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from livekit.agents import NOT_GIVEN, Agent, RunContext, ToolError, function_tool, llm

from ..errors import ScheduleUnavailable, SchedulingError, SlotUnavailable, TransferFailed
from ..outcome import CallRecord, CallStatus
from ..phone import mask
from ..store.scheduling import Appointment, Scheduler, Slot
from . import prompts
from .speech import speak_date, speak_time, speak_when

logger = logging.getLogger(__name__)

DEFAULT_VISIT = timedelta(minutes=30)
MAX_SLOTS_SPOKEN = 6
MAX_IDENTITY_CHECKS = 2

EndReason = Literal["patient_request", "do_not_call", "not_interested", "wrong_number", "completed"]


class CallLine(Protocol):
    """What the tools can do to the phone line."""

    async def transfer(self, to_number: str) -> None:
        """SIP-transfer the callee to ``to_number``; raises TransferFailed."""

    def hang_up_soon(self, reason: str) -> None:
        """Hang up (delete the room) in the background."""


@dataclass(frozen=True)
class Practice:
    name: str
    zone: ZoneInfo
    callback_number: str
    address: str = ""  # what the agent may say when asked where the practice is
    parking: str = ""


@dataclass
class CallState:
    """Per-call state, reached from tools as ``RunContext[CallState].userdata``."""

    practice: Practice
    scheduler: Scheduler
    line: CallLine
    record: CallRecord
    now: Callable[[], datetime]
    patient_name: str | None = None
    appointments: list[Appointment] = field(default_factory=list)  # earliest first
    transfer_to: str | None = None
    log_extra: dict[str, Any] = field(default_factory=dict)
    last_lookup: tuple[date, timedelta] | None = None  # day and length, for alternatives
    verify_date_of_birth: bool = False  # the practice asks for it before any detail
    date_of_birth: date | None = None  # on file for the patient, when the store has it
    verified: bool = False
    failed_checks: int = 0

    def must_verify(self) -> bool:
        return self.verify_date_of_birth and self.date_of_birth is not None

    def today(self) -> date:
        return self.now().astimezone(self.practice.zone).date()

    def pick(self, number: int | None) -> tuple[int, Appointment]:
        """The call's appointment the model means: its position (0-based) and itself.

        Raises:
            ToolError: none on file, several and no number given, or no such number.
        """
        count = len(self.appointments)
        if count == 0:
            raise ToolError("There is no appointment on file for this patient.")
        if number is None:
            if count > 1:
                raise ToolError(
                    f"The patient has {count} appointments on this call: say which one you "
                    "mean, and pass its number (from your instructions) as `appointment`."
                )
            number = 1
        if not 1 <= number <= count:
            raise ToolError(f"There is no appointment {number}; they are numbered 1 to {count}.")
        return number - 1, self.appointments[number - 1]


def as_data(value: str) -> str:
    """A record's text as the instructions quote it: in double quotes, line breaks and quotes
    escaped, so it reads as one value and cannot start an instruction of its own."""
    return json.dumps(value, ensure_ascii=False)


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


def describe_appointments(state: CallState) -> str:
    """The instructions' line about the appointments the call is for."""
    zone = state.practice.zone

    def one(appt: Appointment) -> str:
        when = speak_when(appt.start, zone)
        return f"{when} with {as_data(appt.provider)} (status {appt.status})"

    if not state.appointments:
        return "Their appointment: none on file; you can still offer to book one"
    if len(state.appointments) == 1:
        return f"Their appointment: {one(state.appointments[0])}"
    listed = "; ".join(f"appointment {n}: {one(a)}" for n, a in enumerate(state.appointments, 1))
    return (
        f"Their appointments, {len(state.appointments)} on the same day: {listed}. This call is "
        "about all of them: ask about each in turn and pass its number as `appointment` to "
        "every appointment tool"
    )


def build_instructions(state: CallState) -> str:
    zone = state.practice.zone
    return prompts.render(
        "instructions",
        practice_name=state.practice.name,
        today=speak_date(state.today()) + f" ({state.today().isoformat()})",
        timezone=str(zone),
        patient=(
            as_data(state.patient_name)
            if state.patient_name
            else "name not on file (ask who you are speaking with)"
        ),
        appointments=describe_appointments(state),
        callback_number=state.practice.callback_number,
        location=describe_location(state.practice),
        identity_check=(
            "Then ask for their date of birth and call `verify_identity` with it; discuss the "
            "appointment only once it returns that they are verified."
            if state.must_verify()
            else ""
        ),
    )


def build_opening(state: CallState) -> str:
    return prompts.render(
        "opening",
        practice_name=state.practice.name,
        patient=as_data(state.patient_name) if state.patient_name else "the patient",
    )


UNREACHABLE = (
    "I can't reach the schedule right now. Apologise, say nothing was changed, and offer to "
    "transfer them to the practice staff or have the office call them back."
)


def build_check_in() -> str:
    return prompts.render("check_in")


def build_silent_goodbye(state: CallState) -> str:
    return prompts.render(
        "silent_goodbye",
        practice_name=state.practice.name,
        callback_number=state.practice.callback_number,
    )


def _interrupted(ctx: RunContext[CallState]) -> bool:
    """True when the callee talked over this turn: act on nothing from it."""
    return ctx.speech_handle.interrupted


class OutboundCaller(Agent):
    """The appointment-call agent. Give it an ``llm`` to run it alone in tests."""

    def __init__(self, state: CallState, *, llm: llm.LLM[Any] | None = None) -> None:
        super().__init__(
            instructions=build_instructions(state), llm=llm if llm is not None else NOT_GIVEN
        )
        self._state = state

    def _log(self, event: str, **fields: Any) -> None:
        logger.info(event, extra={**self._state.log_extra, **fields})

    def _used(
        self, ctx: RunContext[CallState], tool: str, *, needs_identity: bool = False
    ) -> CallState:
        state = ctx.userdata
        state.record.tools_used.append(tool)
        self._log("tool called", tool=tool)
        if needs_identity and state.must_verify() and not state.verified:
            raise ToolError(
                "The caller's identity is not verified yet: ask for their date of birth and "
                "call verify_identity first. Say nothing about the appointment until then."
            )
        return state

    @function_tool
    async def verify_identity(self, ctx: RunContext[CallState], date_of_birth: str) -> str:
        """Check the date of birth the caller gave against the one on file.

        Args:
            date_of_birth: What the caller said, as YYYY-MM-DD.
        """
        state = self._used(ctx, "verify_identity")
        if not state.must_verify():
            return "No date of birth check is needed on this call."
        if state.failed_checks >= MAX_IDENTITY_CHECKS:
            return "Not verified. Do not discuss the appointment; offer that the office calls back."
        try:
            given = datetime.strptime(date_of_birth.strip(), "%Y-%m-%d").date()
        except ValueError:
            raise ToolError("I didn't catch that date of birth; ask for it again.") from None
        if given == state.date_of_birth:
            state.verified = True
            self._log("identity verified")
            return "Verified: this is the patient. You may discuss the appointment."
        state.failed_checks += 1
        self._log("identity check failed", attempt=state.failed_checks)
        if state.failed_checks >= MAX_IDENTITY_CHECKS:
            return "Not verified. Do not discuss the appointment; offer that the office calls back."
        return "That does not match. Ask them to repeat their date of birth once."

    @function_tool
    async def look_up_availability(
        self, ctx: RunContext[CallState], date: str, appointment: int | None = None
    ) -> str:
        """Look up the open appointment times on one day.

        Args:
            date: The day to look up, as YYYY-MM-DD. Work it out from what the patient said
                and today's date in your instructions.
            appointment: Which of the patient's appointments the new time is for, by its
                number in your instructions; leave empty when they have only one.
        """
        state = self._used(ctx, "look_up_availability", needs_identity=True)
        try:
            day = datetime.strptime(date.strip(), "%Y-%m-%d").date()
        except ValueError:
            raise ToolError("I didn't catch which day that is.") from None
        duration = state.pick(appointment)[1].duration if state.appointments else DEFAULT_VISIT
        async with self._speakable(state):
            slots = await state.scheduler.availability(day, duration=duration)
        state.last_lookup = (day, duration)
        if not slots:
            return f"There are no open times on {speak_date(day)}. Offer to check another day."
        return (
            f"Open times on {speak_date(day)}: {self._listing(state, slots)}. Offer two or "
            "three; to book one, call confirm_appointment with its slot id."
        )

    def _listing(self, state: CallState, slots: list[Slot]) -> str:
        zone = state.practice.zone
        shown = slots[:: max(1, len(slots) // MAX_SLOTS_SPOKEN)][:MAX_SLOTS_SPOKEN]
        return "; ".join(
            f"{speak_time(s.start.astimezone(zone))} with {s.provider} (slot id {s.id})"
            for s in shown
        )

    @asynccontextmanager
    async def _speakable(self, state: CallState) -> AsyncIterator[None]:
        """Scheduling errors become short sentences for the model to say; an outage is
        also recorded on the call, and a slot just taken comes with the alternatives."""
        try:
            yield
        except ScheduleUnavailable:
            state.record.errors.append("schedule unavailable")
            logger.warning("schedule unavailable", extra=state.log_extra)
            raise ToolError(UNREACHABLE) from None
        except SlotUnavailable as exc:
            raise ToolError(await self._alternatives(state, str(exc))) from None
        except SchedulingError as exc:
            raise ToolError(str(exc)) from None

    async def _alternatives(self, state: CallState, taken: str) -> str:
        """The refusal for a slot that was just taken, with other times that day."""
        if state.last_lookup is None:
            return taken
        day, duration = state.last_lookup
        try:
            slots = await state.scheduler.availability(day, duration=duration)
        except SchedulingError:
            return taken
        if not slots:
            return f"{taken} There are no other open times that day."
        return f"{taken} Other open times that day: {self._listing(state, slots)}."

    def _changed(self, state: CallState, change: str, appointment_id: str) -> None:
        """Note ``change`` on the call's record: naming the appointment when there are several."""
        if len(state.appointments) > 1:
            change = f"appointment {appointment_id} {change}"
        state.record.changes.append(change)

    @function_tool
    async def confirm_appointment(
        self,
        ctx: RunContext[CallState],
        slot_id: str | None = None,
        appointment: int | None = None,
    ) -> str:
        """Confirm the patient's appointment, or move it to a new time and confirm that.

        Args:
            slot_id: Leave empty to confirm the appointment they already have. To move it,
                the slot id of a time that look_up_availability returned.
            appointment: Which of the patient's appointments, by its number in your
                instructions; leave empty when they have only one.
        """
        state = self._used(ctx, "confirm_appointment", needs_identity=True)
        index, before = state.pick(appointment)
        if _interrupted(ctx):
            return "The patient interrupted; nothing was changed. Ask again."
        ctx.disallow_interruptions()
        zone = state.practice.zone
        async with self._speakable(state):
            if slot_id:
                after = await state.scheduler.reschedule(before.id, slot_id.strip())
            else:
                after = await state.scheduler.confirm(before.id)
        state.appointments[index] = after
        if slot_id:
            self._changed(
                state,
                f"rescheduled {before.start.isoformat()} -> {after.start.isoformat()}",
                after.id,
            )
            self._log("appointment rescheduled", appointment_id=after.id)
            return f"Moved and confirmed: {speak_when(after.start, zone)} with {after.provider}."
        self._changed(state, f"confirmed {after.start.isoformat()}", after.id)
        self._log("appointment confirmed", appointment_id=after.id)
        return f"Confirmed: {speak_when(after.start, zone)} with {after.provider}."

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
        state = self._used(ctx, "cancel_appointment", needs_identity=True)
        index, before = state.pick(appointment)
        if _interrupted(ctx):
            return "The patient interrupted; nothing was changed. Ask again."
        ctx.disallow_interruptions()
        async with self._speakable(state):
            after = await state.scheduler.cancel(before.id)
        state.appointments[index] = after
        self._changed(state, f"cancelled {after.start.isoformat()}", after.id)
        self._log("appointment cancelled", appointment_id=after.id)
        return f"Cancelled the appointment on {speak_when(after.start, state.practice.zone)}."

    @function_tool
    async def transfer_call(self, ctx: RunContext[CallState]) -> str:
        """Transfer the call to a person at the practice. Only call this after the patient
        has confirmed they want to be transferred and you have told them you are doing it."""
        state = self._used(ctx, "transfer_call")
        if not state.transfer_to:
            return (
                "No one can take a transfer on this call. Tell the patient so, and offer that "
                f"the office calls them back, or that they call {state.practice.callback_number}."
            )
        if _interrupted(ctx):
            return "The patient interrupted; the call was not transferred. Ask again."
        ctx.disallow_interruptions()
        await ctx.wait_for_playout()
        self._log("transferring", transfer_to=mask(state.transfer_to))
        try:
            await state.line.transfer(state.transfer_to)
        except TransferFailed:
            self._log("transfer failed", transfer_to=mask(state.transfer_to))
            raise ToolError(
                "The transfer did not go through. Apologise, and offer to keep helping or to "
                "have the office call back."
            ) from None
        return "The call was transferred."

    @function_tool
    async def end_call(
        self, ctx: RunContext[CallState], reason: EndReason = "patient_request"
    ) -> str:
        """End the call. Call it at once when the patient asks to stop, hang up, not be
        called, says it is a wrong number or is not interested, and when the call is done.

        Args:
            reason: Why the call ends.
        """
        state = self._used(ctx, "end_call")
        state.record.hangup_reason = reason
        ctx.disallow_interruptions()

        # The goodbye is generated from this tool's output and plays in the same speech
        # handle; hang up once it has finished playing.
        ctx.speech_handle.add_done_callback(lambda _: state.line.hang_up_soon(reason))
        return "The call is ending now. Say one short goodbye sentence and nothing else."

    @function_tool
    async def detected_answering_machine(self, ctx: RunContext[CallState]) -> None:
        """Call this when you reach a voicemail greeting or an answering machine rather
        than a person. Say nothing; the call is hung up."""
        state = self._used(ctx, "detected_answering_machine")
        state.record.status = CallStatus.VOICEMAIL
        state.record.amd = "machine"  # the model's verdict, from the greeting it heard
        state.record.hangup_reason = "voicemail"
        self._log("voicemail detected")
        state.line.hang_up_soon("voicemail")
