"""The first stage of every call: who is on the line?

Its instructions hold the practice and the patient's name, nothing about the appointment.
When the person is confirmed as the patient (or, for a minor, a parent or guardian), and
their date of birth matches when the practice asks for it, the call is handed to the
scheduling agent (:class:`.agent.OutboundCaller`), whose instructions hold the
appointment: the framework's agent handoff, with the conversation so far carried over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from livekit.agents import NOT_GIVEN, Agent, RunContext, ToolError, function_tool, llm

from . import prompts
from .agent import OutboundCaller, call_facts
from .line_tools import LINE_TOOLS, log, used
from .state import CallState, as_data

MAX_IDENTITY_CHECKS = 2
Speaker = Literal["patient", "parent_or_guardian"]
NOT_VERIFIED = (
    "Not verified. Say nothing about the appointment; offer that the office calls back "
    "(request_callback)."
)


def build_identity_instructions(state: CallState) -> str:
    return prompts.render(
        "identity",
        **call_facts(state),
        patient=(
            as_data(state.patient_name)
            if state.patient_name
            else "name not on file (ask who you are speaking with)"
        ),
        guardian_rule=(
            "The patient is a minor: a parent or guardian may manage the appointment for "
            "them; when the person says they are one, call `confirmed_identity` with speaker "
            '"parent_or_guardian".'
            if state.patient_is_minor()
            else "Only the patient themself may discuss the appointment."
        ),
        identity_check=(
            "4. Then ask for the patient's date of birth and call `verify_identity` with it."
            if state.must_verify()
            else ""
        ),
    )


class IdentityCheck(Agent):
    """Confirms who answered, then hands the call to the scheduling agent."""

    def __init__(self, state: CallState, *, llm: llm.LLM[Any] | None = None) -> None:
        super().__init__(
            instructions=build_identity_instructions(state),
            tools=list(LINE_TOOLS),
            llm=llm if llm is not None else NOT_GIVEN,
        )
        self._state = state
        self._model = llm

    def _hand_over(self) -> OutboundCaller:
        state = self._state
        state.identified = True
        log(state, "identity confirmed", speaker=state.speaker)
        return OutboundCaller(state, llm=self._model, chat_ctx=self.chat_ctx.copy(), greet=True)

    @function_tool
    async def confirmed_identity(
        self, ctx: RunContext[CallState], speaker: Speaker
    ) -> OutboundCaller | str:
        """The person on the line said who they are.

        Args:
            speaker: "patient" when they are the patient; "parent_or_guardian" when they are
                the parent or guardian of a minor patient.
        """
        state = used(ctx, "confirmed_identity", speaker=speaker)
        if speaker == "parent_or_guardian" and not state.patient_is_minor():
            raise ToolError(
                "Only the patient may discuss this appointment: ask to speak with them, or "
                "offer to call back later (request_callback)."
            )
        state.speaker = "patient" if speaker == "patient" else "parent or guardian"
        if state.must_verify() and not state.verified:
            return "Now ask for the patient's date of birth, and call verify_identity with it."
        return self._hand_over()

    @function_tool
    async def verify_identity(
        self, ctx: RunContext[CallState], date_of_birth: str
    ) -> OutboundCaller | str:
        """Check the patient's date of birth the caller gave against the one on file.

        Args:
            date_of_birth: What the caller said, as YYYY-MM-DD.
        """
        state = used(ctx, "verify_identity")
        if not state.must_verify():
            return "No date of birth check is needed on this call."
        if state.failed_checks >= MAX_IDENTITY_CHECKS:
            return NOT_VERIFIED
        try:
            given = datetime.strptime(date_of_birth.strip(), "%Y-%m-%d").date()
        except ValueError:
            raise ToolError("That date of birth was not clear; ask for it again.") from None
        if given == state.date_of_birth:
            state.verified = True
            log(state, "identity verified")
            return self._hand_over()
        state.failed_checks += 1
        log(state, "identity check failed", attempt=state.failed_checks)
        if state.failed_checks >= MAX_IDENTITY_CHECKS:
            return NOT_VERIFIED
        return "That does not match. Ask them to repeat the date of birth once."


def first_agent(state: CallState, *, llm: llm.LLM[Any] | None = None) -> Agent:
    """The agent a call starts with: the identity check, unless the person is already
    confirmed (a test that starts at the scheduling stage)."""
    if state.identified:
        return OutboundCaller(state, llm=llm)
    return IdentityCheck(state, llm=llm)
