"""One outbound call from dial to hang-up: placing it, greeting, watching the callee's
leg, transferring and hanging up. It implements the tools' :class:`CallLine`.

When does the agent speak first? Never before the callee has answered: the session
hears the line from the moment the SIP leg joins, but nothing prompts a reply until
``create_sip_participant(wait_until_answered=True)`` has returned (``sip.callStatus``
is ``active``). Then people usually say "hello?" first; if the callee speaks, their
turn gets the normal reply, which the instructions make the opening. If the callee
stays silent for ``greeting_delay`` seconds, the agent opens the call itself.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from livekit import rtc
from livekit.agents import AgentSession, AMDPredictionEvent, ToolError, llm
from livekit.agents.voice import SpeechHandle

from ..errors import TransferFailed
from ..outcome import CallRecord, CallStatus
from ..phone import mask
from .desk_transfer import SIP_CALL_STATUS, Bridge, DeskTransfer
from .telephony import DialResult, Telephony
from .voicemail import Action, VoicemailPolicy, action_for

logger = logging.getLogger(__name__)

TRANSFER_WAIT_S = 5.0
HOLD_S = 60.0  # how long "hold on" keeps the silence check-in away
GREETING_END_WAIT_S = 30.0  # a message waits this long at most for the greeting to end
# A mailbox records once its greeting and beep are over: a message starts after the callee's
# side has been quiet this long (a pause between the greeting's sentences is shorter).
MESSAGE_QUIET_S = 2.0


class Call:
    """Controls one call. ``session`` is started by the caller before :meth:`place`."""

    def __init__(
        self,
        *,
        telephony: Telephony,
        session: AgentSession[Any],
        record: CallRecord,
        now: Callable[[], datetime],
        log_extra: dict[str, Any] | None = None,
        voicemail_policy: VoicemailPolicy = "hangup",
        voicemail_message: str = "",
        message_quiet_s: float = MESSAGE_QUIET_S,
        room: rtc.Room | None = None,
        desk_ringing_timeout: float = 20.0,
    ) -> None:
        self._telephony = telephony
        self._desk_ringing_timeout = desk_ringing_timeout
        # a warm transfer that connected: the patient talks with the desk, not the agent
        self._handed_over = False
        self._bridge: Bridge | None = None
        self._room = room  # the agent's connection, left before the room is deleted
        self._voicemail = (voicemail_policy, voicemail_message)
        self._message_quiet_s = message_quiet_s
        self._hold_until = 0.0  # loop time until which a silent line is the callee holding
        self._session = session
        self.record = record
        self._now = now
        self._extra = log_extra or {}
        self._hangup: asyncio.Task[None] | None = None
        # While the dial is in flight its own result decides the outcome: a rejected leg
        # leaves the room (USER_REJECTED, USER_UNAVAILABLE) before the RPC error arrives.
        self._dialing = False
        self._left_while_dialing: str | None = None
        # A transfer in flight: the leg leaves the room as soon as the far end takes the
        # REFER, closing the session and cancelling the tool that asked, so the request runs
        # in its own task and records the outcome itself; hang-up waits for it.
        self._transfer_task: asyncio.Task[None] | None = None
        # Anything the callee says from the moment the leg joins counts as speaking first.
        self._callee_spoke = asyncio.Event()
        session.on("user_state_changed", self._heard_callee)
        session.on("user_input_transcribed", self._heard_callee)

    def _log(self, message: str, level: int = logging.INFO, **fields: Any) -> None:
        logger.log(level, message, extra={**self._extra, **fields})

    @property
    def ended(self) -> bool:
        """True once the call is hanging up: nothing more is said on it."""
        return self._hangup is not None

    async def place(self, phone_number: str) -> DialResult:
        """Dial; on failure the outcome is recorded and the room deleted."""
        self._dialing = True
        try:
            result = await self._telephony.dial(phone_number)
        finally:
            self._dialing = False
        self.record.sip_code, self.record.sip_status = result.sip_code, result.sip_status
        if result.answered:
            self.record.status = CallStatus.ANSWERED
            self.record.answered_at = self._now()
            self._log("answered", phone=mask(phone_number))
            if self._left_while_dialing is not None:  # answered, then gone at once
                self._callee_gone(self._left_while_dialing)
            return result
        self.record.status = result.status
        self._log(
            "call failed",
            logging.WARNING,
            phone=mask(phone_number),
            outcome=result.status.value,
            sip_code=result.sip_code,
            detail=result.detail,
        )
        await self.hang_up(result.status.value)
        return result

    async def not_joined(self, error: Exception) -> None:
        """The agent could not join the room, so nobody was dialed: a failed call (campaigns
        retry it), logged in one line."""
        self.record.status = CallStatus.FAILED
        self.record.errors.append("could not join the room")
        self._log(
            "could not join the room; the patient was not dialed",
            logging.ERROR,
            outcome=CallStatus.FAILED.value,
            detail=str(error),
        )
        await self.hang_up("room join failed")

    async def apply_verdict(self, verdict: AMDPredictionEvent | None) -> Action:
        """Act on the answering-machine verdict (None: the detector gave none) by the
        voicemail policy."""
        policy, message = self._voicemail
        category = verdict.category if verdict is not None else None
        action = action_for(category, policy)
        self.record.amd = category.value if category is not None else "none"
        self._log("answering machine verdict", amd=self.record.amd, action=action.value)
        if action is not Action.CONVERSE:
            await self._on_machine(action, message)
        return action

    async def _on_machine(self, action: Action, message: str) -> None:
        self.record.status = CallStatus.VOICEMAIL
        if action is Action.LEAVE_MESSAGE:
            await self._greeting_over()
            if self.ended:
                return
            handle = self._session.say(message, allow_interruptions=False)
            await handle.wait_for_playout()
            await self.hang_up("voicemail: message left")
        else:
            await self.hang_up(f"answering machine ({self.record.amd})")

    def machine_reached(self) -> None:
        """The model heard a voicemail greeting the detector let through: the same policy
        as the detector's verdict. A message waits for the greeting (the callee's side) to
        go quiet, so it is not said over the greeting and is recorded after the beep."""
        policy, message = self._voicemail
        action = Action.LEAVE_MESSAGE if policy == "message" else Action.HANG_UP
        self._log("answering machine heard by the model", action=action.value)

        task = asyncio.create_task(self._on_machine(action, message), name="voicemail")
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _greeting_over(self) -> None:
        """Until the callee's side has been quiet for ``message_quiet_s`` without a break
        (the greeting and its beep are over), or GREETING_END_WAIT_S at most."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GREETING_END_WAIT_S
        changed = asyncio.Event()

        def _changed(_: Any) -> None:
            changed.set()

        self._session.on("user_state_changed", _changed)
        try:
            while (left := deadline - loop.time()) > 0:
                changed.clear()
                speaking = self._session.user_state == "speaking"
                try:
                    await asyncio.wait_for(
                        changed.wait(), left if speaking else min(left, self._message_quiet_s)
                    )
                except TimeoutError:
                    if not speaking:
                        return  # quiet for the whole window
        finally:
            self._session.off("user_state_changed", _changed)

    def hold(self) -> None:
        """The callee asked to hold on: a silent line is not checked in on for HOLD_S."""
        self._hold_until = asyncio.get_event_loop().time() + HOLD_S
        self._log("callee asked to hold on", hold_s=HOLD_S)

    def _heard_callee(self, ev: Any) -> None:
        if getattr(ev, "new_state", "speaking") == "speaking":
            self._callee_spoke.set()

    async def greet_when_ready(self, *, delay: float, opening: str) -> SpeechHandle | None:
        """After the answer, open the call if the callee stays silent for ``delay`` s.

        Returns the opening's speech, or None when the callee spoke first (their turn
        gets the normal reply, which the instructions make the opening).
        """
        try:
            await asyncio.wait_for(self._callee_spoke.wait(), timeout=delay)
            return None
        except TimeoutError:
            pass
        if self.ended:  # the callee hung up while we waited
            return None
        self._log("callee silent, opening the call", delay_s=delay)
        return self._session.generate_reply(instructions=opening)

    def watch_silence(self, *, check_in: str, goodbye: str, wait: float) -> None:
        """When the line goes quiet (the session marks the callee "away" after its
        ``user_away_timeout``), check in once; if nothing is said for ``wait`` seconds
        after the check-in, say goodbye and hang up. The callee speaking cancels that."""
        loop = asyncio.get_event_loop()
        timers: list[asyncio.TimerHandle] = []
        checking = False

        def _give_up() -> None:
            if self.ended:
                return
            self._log("line still silent, ending the call")
            handle = self._session.generate_reply(instructions=goodbye)
            handle.add_done_callback(lambda _: self.hang_up_soon("silence"))

        def _checked_in(_: SpeechHandle) -> None:
            if checking:  # nobody spoke while the check-in played
                timers.append(loop.call_later(wait, _give_up))

        def _state(ev: Any) -> None:
            nonlocal checking
            if ev.new_state == "speaking":
                checking = False
                while timers:
                    timers.pop().cancel()
            elif ev.new_state == "away" and not checking and not self.ended:
                if self._handed_over:  # the patient is talking with the front desk
                    return
                holding = self._hold_until - loop.time()
                if holding > 0:  # the callee asked to hold on: look again when that is over
                    timers.append(loop.call_later(holding, _state, ev))
                    return
                checking = True
                self._log("line silent, checking in")
                self._session.generate_reply(instructions=check_in).add_done_callback(_checked_in)

        self._session.on("user_state_changed", _state)

    def watch_callee(self, room: rtc.EventEmitter[Any]) -> None:
        """Hang up whenever the callee's leg leaves the room, for any reason, or the SIP
        service marks it hung up (``sip.callStatus`` ``hangup``, set before it leaves).

        The mark matters when the leave is lost: livekit-sip sends it just before closing
        its connection, and a server that fails to write to that connection first drops
        it, keeping the leg in the room until its connection times out (~20 s; seen
        through the real stack). Without the mark, a desk on a warm transfer stays on the
        line that long after the patient hung up."""

        def _left(reason: str) -> None:
            if self._dialing:
                if self._left_while_dialing is None:
                    self._left_while_dialing = reason
                return
            self._callee_gone(reason)

        def _gone(participant: rtc.RemoteParticipant) -> None:
            if participant.identity != self._telephony.identity:
                return
            code = participant.disconnect_reason
            reason = rtc.DisconnectReason.Name(code) if code is not None else "UNKNOWN_REASON"
            self._log("callee left", reason=reason)
            _left(reason)

        def _marked(changed: dict[str, str], participant: rtc.Participant) -> None:
            if participant.identity != self._telephony.identity:
                return
            if changed.get(SIP_CALL_STATUS) != "hangup":
                return
            self._log("callee hung up")
            # the reason livekit-sip gives the leg's leave for every status it marks so
            _left("CLIENT_INITIATED")

        room.on("participant_disconnected", _gone)
        room.on("participant_attributes_changed", _marked)

    def _callee_gone(self, reason: str) -> None:
        if self.record.hangup_reason is None:
            self.record.hangup_reason = f"callee left ({reason})"
        self.hang_up_soon("callee left")

    async def transfer(self, to_number: str) -> None:
        """SIP-transfer the callee; raises TransferFailed. The outcome records the transfer
        even when the leg leaves (and the session closes) before the request returns."""
        task = asyncio.create_task(self._transfer(to_number), name="transfer")
        # if the tool was cancelled, nobody awaits a failure: retrieve it (it is logged)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._transfer_task = task
        await asyncio.shield(task)

    async def _transfer(self, to_number: str) -> None:
        await self._telephony.transfer(to_number)
        self.record.transferred = True
        self.record.hangup_reason = "transferred"
        self._log("transferred", transfer_to=mask(to_number))

    async def warm_transfer(self, to_number: str, *, briefing: str) -> None:
        """Put the callee on hold, call the desk at ``to_number``, brief whoever answers
        (``briefing``: the facts they need) and connect them; raises TransferFailed when
        the desk does not answer or declines, and the conversation goes on. Awaited from
        the tool itself: the framework runs the briefing as a task of the session."""
        task = DeskTransfer(
            desk_number=to_number,
            lkapi=self._telephony.client,
            trunk_id=self._telephony.trunk_id,
            ringing_timeout=self._desk_ringing_timeout,
            patient_identity=self._telephony.identity,
            briefing=briefing,
            chat_ctx=self._session.history,
            model=_model_of(self._session),
        )
        try:
            await task
        except ToolError as exc:
            self._log(
                "warm transfer failed",
                logging.WARNING,
                transfer_to=mask(to_number),
                detail=exc.message,
            )
            raise TransferFailed(exc.message) from None
        # the agent is out of the conversation, and stays in the room until either side
        # hangs up (deleting it would drop the patient)
        self._handed_over = True
        self._session.input.set_audio_enabled(False)
        self._session.output.set_audio_enabled(False)
        self.record.transferred = True
        self.record.hangup_reason = "transferred"
        self._bridge = task.bridge
        if task.bridge is not None:
            task.bridge.on_desk_left(lambda: self.hang_up_soon("transferred"))
        self._log(
            "transferred",
            transfer_to=mask(to_number),
            mode="warm",
            relayed=task.bridge is not None,
        )

    def hang_up_soon(self, reason: str) -> None:
        if self._hangup is None:
            # the first reason wins, decided now: an event already queued (the leg leaving
            # after a failed dial) runs before the task starts and must not replace it
            if self.record.hangup_reason is None:
                self.record.hangup_reason = reason
            self._hangup = asyncio.create_task(self._hang_up(), name="hang_up")

    async def hang_up(self, reason: str) -> None:
        """Delete the room (which drops the SIP leg) and close the session; idempotent."""
        self.hang_up_soon(reason)
        assert self._hangup is not None
        await asyncio.shield(self._hangup)

    async def _hang_up(self) -> None:
        self._log("hanging up", reason=self.record.hangup_reason)
        if self._transfer_task is not None and not self._transfer_task.done():
            # its result decides the outcome; TRANSFER_WAIT_S bounds it within the ~10 s the
            # framework gives the job's shutdown
            await asyncio.wait([self._transfer_task], timeout=TRANSFER_WAIT_S)
        if self._bridge is not None:
            await self._bridge.aclose()  # hangs up the desk's leg
        if self._room is not None and self._room.isconnected():
            # leave first: a room deleted under a connected agent closes its data channels
            # from the server's side, which the SDK logs as three errors per call
            await self._room.disconnect()
        await self._telephony.delete_room()
        self._session.shutdown()
        # this task runs once per call, so the outcome is logged exactly once
        self.record.ended_at = self._now()
        self._log("call ended", **self.record.as_log_fields())


def _model_of(session: AgentSession[Any]) -> llm.LLM[Any] | None:
    """The LLM the call's agent talks with (set on the agent, not on the session)."""
    model = session.current_agent.llm
    return model if isinstance(model, llm.LLM) else None
