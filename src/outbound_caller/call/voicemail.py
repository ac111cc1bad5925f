"""Answering-machine verdicts and what the call does about each.

The verdict comes from the framework's detector (``livekit.agents.AMD``), opened before
dialing so the greeting is heard from its first word. The settings below keep a person
who says "hello?" from waiting: a short greeting followed by half a second of silence is
a person (the detector's own rule), and a silent line is given up on after
``NO_SPEECH_SECONDS`` instead of the detector's default of ten seconds, after which the
agent opens the call itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from livekit.agents import AMDCategory, AMDPredictionEvent
from livekit.agents.voice.amd.detector import DetectionOptions

from . import prompts
from .speech import speak_phone

VoicemailPolicy = Literal["hangup", "message"]

NO_SPEECH_SECONDS = 3.0
DETECTION: DetectionOptions = {
    # a silent line: stop waiting for a greeting after 3 s (default 10 s) and let the
    # agent open the call
    "no_speech_threshold": NO_SPEECH_SECONDS,
    # a greeting still undecided after 8 s (default 20 s) is treated as uncertain
    "timeout": 8.0,
}


# How long the call waits for the detector's verdict, by policy. Hanging up on machines
# needs no end of greeting, so the detector's ``timeout`` is a hard cap (it emits whatever
# it has at 8 s) and the wait only guards against a hang. Leaving a message must wait for
# the beep: the detector listens to the whole greeting (``wait_until_finished``), so the
# wait covers greetings of up to a minute.
VERDICT_WAIT_S: dict[VoicemailPolicy, float] = {"hangup": 15.0, "message": 60.0}


def waits_for_greeting_end(policy: VoicemailPolicy) -> bool:
    """Whether the detector hears the greeting out before its verdict (``message`` only)."""
    return policy == "message"


class Action(StrEnum):
    CONVERSE = "converse"
    HANG_UP = "hang_up"
    LEAVE_MESSAGE = "leave_message"


def action_for(category: AMDCategory | None, policy: VoicemailPolicy) -> Action:
    """Human or uncertain (or no verdict at all): talk. Voicemail: the practice's policy.
    An IVR menu or a mailbox that cannot take a message: hang up."""
    if category is None or category in (AMDCategory.HUMAN, AMDCategory.UNCERTAIN):
        return Action.CONVERSE
    if category == AMDCategory.MACHINE_VM and policy == "message":
        return Action.LEAVE_MESSAGE
    return Action.HANG_UP


SILENT_LINE_OPENING_S = 0.2


def opening_delay(verdict: AMDPredictionEvent | None, greeting_delay: float) -> float:
    """How long to wait for the callee to speak before the agent opens the call.

    Only a verdict the detector reached because nothing was said (``no_speech_timeout``)
    means the line was already silent for ``NO_SPEECH_SECONDS``: open almost at once. Every
    other verdict gets the full greeting delay, including ``participant_missing`` (the
    callee's audio never arrived), which also has no speech but heard nothing at all."""
    if verdict is not None and verdict.reason == "no_speech_timeout":
        return SILENT_LINE_OPENING_S
    return greeting_delay


def voicemail_message(*, practice_name: str, callback_number: str) -> str:
    """What the agent leaves on a voicemail: the practice and its number, said in groups and
    twice, nothing about the patient or the appointment (someone else may hear it)."""
    return prompts.render(
        "voicemail", practice_name=practice_name, callback_number=speak_phone(callback_number)
    )
