"""What the tests expect a call to sound like at the phone: the agent's lines as the
recogniser reads them, and the checks several tests share."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from e2e.hearing import Utterance, sentences, utterances
from e2e.world import ASK, CONFIRMED, GOODBYE, OPENING, PRACTICE, PhoneRun, World

AGENT_LINES = [OPENING, ASK, CONFIRMED, GOODBYE]
PRACTICE_ZONE = ZoneInfo("America/New_York")  # the world's PRACTICE_TIMEZONE


def said(template: str, patient: str) -> str:
    return template.format(practice=PRACTICE, patient=patient, first=patient.split()[0])


def heard(handset: PhoneRun, patient: str, lines: list[str] = AGENT_LINES) -> list[Utterance]:
    pcm, started = handset.recording()
    # the opening's question also as it reads without the surname (see assert_opening)
    first_name_only = said(OPENING, patient.split()[0])
    return utterances(pcm, started, [*(said(t, patient) for t in lines), first_name_only])


def line_of(heard: Utterance, lines: list[str], patient: str) -> str | None:
    """The line of ``lines`` that ``heard`` is: the one with the most of its words among the
    sentences recognised (the recogniser now and then reads a turn's sentences only in part),
    the patient named in full or by first name (as :func:`heard` listens for both)."""
    text = heard.text or ""

    def score(line: str) -> int:
        return max(
            sum(len(s.split()) for s in sentences([said(line, who)]) if s in text)
            for who in (patient, patient.split()[0])
        )

    scores = [score(line) for line in lines]
    best = max(range(len(lines)), key=scores.__getitem__)
    return lines[best] if scores[best] else None


def assert_opening(first: Utterance, patient: str) -> None:
    """The first utterance is the opening: the practice's sentence, then the question with
    the patient's first name (the recogniser misreads some surnames in espeak's voice, such
    as "Mendes", so the surname is not required)."""
    practice, question = sentences([said(OPENING, patient)])
    text = first.text or ""
    assert practice in text, first
    assert question.rsplit(" ", len(patient.split()) - 1)[0] in text, first


def no_traceback(world: World, since: int) -> None:
    """No traceback in the worker's log, and no error from its native libraries (their lines
    look like ``[2026-12-03T05:55:51Z ERROR livekit-nc] ...``)."""
    log = world.worker_log_since(since)
    assert "Traceback" not in log, log
    native = [line for line in log.splitlines() if re.match(r"\[\S+ ERROR ", line)]
    assert not native, native
