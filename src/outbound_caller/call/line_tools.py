"""The tools both stages of a call have (before and after the person is confirmed): ending
the call, a callback, a message for the office, a transfer, holding on, and a voicemail
greeting heard by the model."""

from __future__ import annotations

import logging
import re
from datetime import datetime, time, timedelta
from typing import Any, Literal

from livekit.agents import RunContext, ToolError, function_tool, llm

from ..errors import TransferFailed
from ..outcome import CallStatus
from ..phone import mask
from .briefing import desk_briefing
from .speech import speak_phone, speak_when
from .state import CallState

logger = logging.getLogger(__name__)

EndReason = Literal["completed", "patient_request", "do_not_call", "not_interested", "wrong_number"]
LATER_TODAY = timedelta(hours=2)
CALLBACK_AHEAD = timedelta(days=14)
MAX_NOTE = 500
_WHEN = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})[ T](\d{1,2}):(\d{2})\s*$")


def used(ctx: RunContext[CallState], tool: str, **fields: Any) -> CallState:
    """Note the tool on the call's record and in the log; the state it acts on."""
    state = ctx.userdata
    state.record.tools_used.append(tool)
    logger.info("tool called", extra={**state.log_extra, "tool": tool, **fields})
    return state


def log(state: CallState, event: str, **fields: Any) -> None:
    logger.info(event, extra={**state.log_extra, **fields})


def _end_after_reply(ctx: RunContext[CallState], state: CallState, reason: str) -> None:
    """Hang up once the reply to this tool (the goodbye) has finished playing."""
    state.record.hangup_reason = reason
    ctx.disallow_interruptions()
    ctx.speech_handle.add_done_callback(lambda _: state.line.hang_up_soon(reason))


def _note(text: str | None) -> str | None:
    cleaned = " ".join((text or "").split())
    if not cleaned:
        return None
    return cleaned[:MAX_NOTE]


@function_tool
async def end_call(ctx: RunContext[CallState], reason: EndReason) -> str:
    """End the call. Call it at once when the call is over; never for a bare "stop",
    "wait" or "hold on" in the middle of a sentence ("stop, I meant Thursday" goes on).

    Args:
        reason: Why the call ends, exactly one of:
            "completed": everything they wanted is done (confirmed, moved, cancelled or
                nothing needed) and they said goodbye.
            "patient_request": they want to end the call now (busy, "just hang up",
                "goodbye") without asking not to be called again.
            "do_not_call": they ask not to be called again: "stop calling me", "take me
                off your list", "don't call again". The number goes on the do-not-call list.
            "not_interested": they are not interested and do not want to go on.
            "wrong_number": the number is not the patient's; nobody here knows them.
    """
    state = used(ctx, "end_call", reason=reason)
    _end_after_reply(ctx, state, reason)
    return "The call is ending now. Say one short goodbye sentence and nothing else."


def _callback_time(state: CallState, when: str | None) -> datetime:
    """The requested time as UTC: ``YYYY-MM-DD HH:MM`` in the practice's zone, or empty or
    "later today" for two hours from now."""
    now = state.now()
    if when is None or not when.strip() or when.strip().lower() == "later today":
        return now + LATER_TODAY
    match = _WHEN.match(when)
    if match is None:
        raise ToolError(
            "Pass `when` as YYYY-MM-DD HH:MM in the practice's time zone (or leave it empty "
            "for later today); ask the patient when suits them if you are unsure."
        )
    try:
        day = datetime.strptime(match.group(1), "%Y-%m-%d").date()
        moment = time(int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise ToolError("That is not a real date or time; ask the patient again.") from None
    at = datetime.combine(day, moment, state.practice.zone)
    if at <= now:
        raise ToolError("That time has already passed; ask the patient for a later one.")
    if at > now + CALLBACK_AHEAD:
        raise ToolError(
            "That is more than two weeks away; ask for a time within the next two weeks."
        )
    return at


@function_tool
async def request_callback(
    ctx: RunContext[CallState], when: str | None = None, note: str | None = None
) -> str:
    """The person wants to be called back (they are driving, busy, or the patient is out):
    record it and end the call. Ask when suits them first.

    Args:
        when: When to call back, as YYYY-MM-DD HH:MM in the practice's time zone ("after 5"
            today is today's date at 17:00). Leave empty for "later today".
        note: A few words for the office about the request, if any. Nothing about the
            appointment when you have not confirmed who you are speaking with.
    """
    state = used(ctx, "request_callback")
    at = _callback_time(state, when)
    state.record.callback_at = at
    state.record.callback_note = _note(note)
    log(state, "callback requested", callback_at=at.isoformat())
    _end_after_reply(ctx, state, "callback_requested")
    return (
        f"Callback noted for {speak_when(at, state.practice.zone, today=state.today())}. Tell "
        "them we will call back then, say one short goodbye, and nothing else."
    )


@function_tool
async def leave_message_for_office(ctx: RunContext[CallState], note: str) -> str:
    """Pass a message to the practice's staff about something you cannot handle on this
    call: an insurance change, pain or another clinical concern, running late today, a
    question about a bill. The call goes on.

    Args:
        note: The message in a sentence or two, in the patient's own terms.
    """
    state = used(ctx, "leave_message_for_office")
    text = _note(note)
    if text is None:
        raise ToolError("The message is empty: ask the patient what to pass on.")
    state.record.office_messages.append(text)
    log(state, "message for the office", messages=len(state.record.office_messages))
    return (
        "Message saved for the office staff, who will see it today. Tell the patient so in "
        "one sentence, then ask whether there is anything else."
    )


@function_tool
async def transfer_call(ctx: RunContext[CallState]) -> str | None:
    """Transfer the call to a person at the practice. Only call this after the patient
    has confirmed they want to be transferred and you have told them you are doing it."""
    state = used(ctx, "transfer_call")
    if not state.transfer_to:
        return (
            "No one can take a transfer on this call. Tell the patient so, and offer that the "
            f"office calls them back (request_callback), or that they call "
            f"{speak_phone(state.practice.callback_number)}."
        )
    if state.practice.is_open(state.now()) is False:
        return (
            "The office is closed right now, so nobody can take a transfer. Tell the patient, "
            "and offer a callback when the office is open (request_callback)."
        )
    if ctx.speech_handle.interrupted:
        return "The patient interrupted; the call was not transferred. Ask again."
    ctx.disallow_interruptions()
    await ctx.wait_for_playout()
    log(state, "transferring", transfer_to=mask(state.transfer_to), warm=state.warm_transfer)
    if state.warm_transfer:
        await _warm_transfer(ctx, state, state.transfer_to)
        return None  # the patient is talking with the desk now: the agent says nothing more
    try:
        await state.line.transfer(state.transfer_to)
    except TransferFailed:
        log(state, "transfer failed", transfer_to=mask(state.transfer_to))
        raise ToolError(
            "The transfer did not go through. Apologise, and offer to keep helping or to have "
            "the office call back (request_callback)."
        ) from None
    # The callee is on their way to the desk: no reply (a tool returning None asks for none;
    # the leg stays up until it is hung up, and anything said now reaches the patient), and
    # the agent's leg goes now rather than when livekit-sip gives up waiting for the phone.
    state.line.hang_up_soon("transferred")
    return None


ON_HOLD = "One moment, please. I'll put you on hold while I get someone from the front desk."


async def _warm_transfer(ctx: RunContext[CallState], state: CallState, to: str) -> None:
    # kept out of the history: the tool's output, not this line, is the model's next cue
    hold = ctx.session.say(ON_HOLD, allow_interruptions=False, add_to_chat_ctx=False)
    await hold.wait_for_playout()
    try:
        await state.line.warm_transfer(to, briefing=desk_briefing(state))
    except TransferFailed:
        raise ToolError(
            "Nobody at the front desk could take the call; the patient is back with you. "
            "Apologise, and offer that the office calls them back (request_callback), or to "
            "keep helping."
        ) from None


@function_tool
async def hold_on(ctx: RunContext[CallState]) -> str:
    """The person asks you to hold on or wait a moment: say you will wait, briefly, and
    then wait for them to speak."""
    state = used(ctx, "hold_on")
    state.line.hold()
    return "Say 'Sure, take your time' (or similar, one short phrase), then wait for them."


@function_tool
async def detected_answering_machine(ctx: RunContext[CallState]) -> None:
    """Call this when you reach a voicemail greeting or an answering machine rather than a
    person. Say nothing: the practice's voicemail policy decides what happens."""
    state = used(ctx, "detected_answering_machine")
    state.record.status = CallStatus.VOICEMAIL
    state.record.amd = "machine"  # the model's verdict, from the greeting it heard
    log(state, "voicemail detected")
    state.line.machine_reached()


LINE_TOOLS: list[llm.Tool] = [
    end_call,
    request_callback,
    transfer_call,
    hold_on,
    detected_answering_machine,
]
"""What every stage of the call has; the scheduling stage adds leave_message_for_office."""
