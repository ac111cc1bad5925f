"""What the test phone heard, in words: its recording cut into utterances by energy, each
recognised by pocketsphinx as a sequence of the sentences the agent could have said (a
grammar of those sentences keeps recognition of telephone audio reliable)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

RATE = 8000
FRAME = RATE // 50  # 20 ms
SPEECH_RMS = 250
GAP_S = 0.6  # this much quiet separates two utterances
SENTENCE_GAP_S = 0.15  # the pause between two sentences of one turn
MARGINS = ((0.5, 0.5), (0.3, 0.3), (0.2, 0.6))  # seconds of context before and after


ASK_AGAIN = "say it again"  # the agent's "Sorry, I didn't catch that. Could you say it again?"


class AskedAgain:
    """Whether a turn of the agent's asks to hear the callee's last line again, found by
    pocketsphinx's keyword spotting ("say it again"; the threshold found all of the rig's
    fallbacks and none of its other lines)."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder

        self._decoder = Decoder(
            keyphrase=ASK_AGAIN, kws_threshold=1e-20, samprate=16000, loglevel="FATAL"
        )

    def __call__(self, pcm: bytes) -> bool:
        """``pcm``: the turn at 8 kHz, with some quiet either side."""
        self._decoder.start_utt()
        self._decoder.process_raw(upsample(pcm, RATE, 16000), full_utt=True)
        self._decoder.end_utt()
        return self._decoder.hyp() is not None


@dataclass(frozen=True)
class Utterance:
    start: float  # time.time() of its first sound
    end: float
    text: str | None  # the candidate sentences it matched, in order; None when none did


def words(text: str) -> str:
    """``text`` as the recogniser spells it: lower-case words, no punctuation."""
    return " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split())


def sentences(texts: list[str]) -> list[str]:
    """Each sentence of each text, as the grammar has them."""
    out: list[str] = []
    for text in texts:
        for part in re.split(r"(?<=[.?!])\s+", text):
            said = words(part)
            if said and said not in out:
                out.append(said)
    return out


def rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def is_tone(pcm: bytes, rate: int) -> bool:
    """Whether ``pcm`` is one steady tone (a mailbox's beep) rather than speech: most of its
    energy within 30 Hz of one frequency."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    if samples.size < rate // 10:
        return False
    power = np.abs(np.fft.rfft(samples)) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / rate)
    peak = freqs[int(np.argmax(power))]
    return float(power[np.abs(freqs - peak) <= 30].sum() / power.sum()) > 0.6


def upsample(pcm: bytes, rate: int, to: int) -> bytes:
    """16-bit mono ``pcm`` from ``rate`` to ``to`` Hz, by linear interpolation (the
    recogniser's model is for 16 kHz)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
    if rate == to or samples.size == 0:
        return pcm
    positions = np.arange(int(samples.size * to / rate)) * rate / to
    return np.interp(positions, np.arange(samples.size), samples).astype(np.int16).tobytes()


def spans(pcm: bytes, started: float, gap: float = GAP_S) -> list[tuple[float, float]]:
    """(start, end) wall-clock times of the loud stretches of ``pcm``, split at quiet
    stretches of ``gap`` seconds or more."""
    found: list[tuple[float, float]] = []
    begin: float | None = None
    last_loud = 0.0
    for i in range(0, len(pcm) - FRAME * 2 + 1, FRAME * 2):
        at = started + i / 2 / RATE
        if rms(pcm[i : i + FRAME * 2]) > SPEECH_RMS:
            if begin is None:
                begin = at
            last_loud = at + FRAME / RATE
        elif begin is not None and at - last_loud >= gap:
            found.append((begin, last_loud))
            begin = None
    if begin is not None:
        found.append((begin, last_loud))
    return found


def utterances(pcm: bytes, started: float, candidates: list[str]) -> list[Utterance]:
    from pocketsphinx import Decoder

    def decoder_for(rule: str) -> Any:
        grammar = Path(tempfile.mkdtemp(prefix="rig-hearing-")) / "agent.jsgf"
        grammar.write_text(
            f"#JSGF V1.0;\ngrammar agent;\npublic <s> = {rule} ;\n"
            "<sentence> = " + " | ".join(sentences(candidates)) + " ;\n"
        )
        return Decoder(jsgf=str(grammar), samprate=16000, loglevel="FATAL")

    # a turn is read as a sequence of sentences; one of its sentences alone, against a
    # grammar of single sentences (the sequence grammar prunes some readings away)
    turn, sentence = decoder_for("<sentence>+"), decoder_for("<sentence>")
    heard: list[Utterance] = []

    def read(begin: float, end: float, decoder: Any = turn) -> str | None:
        # the recogniser is sensitive to where a segment starts and ends, and now and then
        # reads only part of it (the first sentence of two): try a few margins of silence
        # around it and keep the reading with the most words
        best: str | None = None
        for before, after in MARGINS:
            a = max(0, int((begin - started - before) * RATE)) * 2
            b = int((end - started + after) * RATE) * 2
            decoder.start_utt()
            decoder.process_raw(upsample(pcm[a:b], RATE, 16000), full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
            if (
                hyp is not None
                and hyp.hypstr
                and len(hyp.hypstr.split()) > len((best or "").split())
            ):
                best = str(hyp.hypstr)
        return best

    for begin, end in spans(pcm, started):
        text = read(begin, end)
        # a turn of several sentences: read it sentence by sentence too, at its short
        # pauses, and keep that reading when it finds more of the turn
        parts = [
            (b, e)
            for b, e in spans(pcm, started, gap=SENTENCE_GAP_S)
            if begin <= b and e <= end + FRAME / RATE
        ]
        if len(parts) > 1:
            read_parts = [read(b, e, sentence) for b, e in parts]
            by_parts = " ".join(t for t in read_parts if t) or None
            if len((by_parts or "").split()) > len((text or "").split()):
                text = by_parts
        heard.append(Utterance(begin, end, text))
    return heard
