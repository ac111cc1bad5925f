"""Call transcripts: written only when ``TRANSCRIPT_DIR`` names a directory (made 0700), one
file per call (0600), phone numbers and dates of birth masked, and removed once older than
the retention period. Audio is never written anywhere."""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from livekit.agents.llm import ChatContext

from ..phone import mask

FILE_PATTERN = re.compile(r"^\d{8}T\d{6}Z-[A-Za-z0-9_.-]+\.txt$")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PHONE_LIKE = re.compile(r"(?<![\w])\+?\d[\d ().-]{5,}\d(?![\w])")


MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
DAY = r"\d{1,2}(?:st|nd|rd|th)?"
# a date that names its year: ISO, numeric, "March 3rd, 1985", "3 March 1985", "3rd of March
# 1985", and a year said in words ("nineteen eighty-five")
DATED = re.compile(
    r"\b(?:\d{4}-\d{1,2}-\d{1,2}"
    r"|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})"
    rf"|{MONTH}\s+{DAY},?\s+\d{{4}}"
    rf"|{DAY}\s+(?:of\s+)?{MONTH},?\s+\d{{4}})\b"
    r"|\bnineteen[\s-]+(?:oh|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen"
    r"|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[\s-]+[a-z]+)?",
    re.IGNORECASE,
)
YEAR = re.compile(r"\d{4}")
RECENT_YEARS = 1  # dates in this year and the one before stay (appointments, not births)


def mask_birth_dates(text: str, *, this_year: int) -> str:
    """Dates with a year before last year (a date of birth, not an appointment) and years
    said in words become ``[date]``."""

    def _mask(match: re.Match[str]) -> str:
        year = YEAR.search(match.group())
        if year is not None and int(year.group()) >= this_year - RECENT_YEARS:
            return match.group()
        return "[date]"

    return DATED.sub(_mask, text)


def mask_numbers(text: str) -> str:
    """Every phone-like run of digits (7 or more) becomes ``***`` plus its last four."""

    def _mask(match: re.Match[str]) -> str:
        if ISO_DATE.fullmatch(match.group()):
            return match.group()
        digits = re.sub(r"\D", "", match.group())
        return mask(digits) if len(digits) >= 7 else match.group()

    return PHONE_LIKE.sub(_mask, text)


def prune(directory: Path, *, keep: timedelta, now: datetime) -> int:
    """Delete this project's transcripts older than ``keep``; returns how many."""
    removed = 0
    cutoff = (now - keep).timestamp()
    for path in directory.glob("*.txt"):
        if FILE_PATTERN.match(path.name) and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def write_transcript(
    directory: Path,
    *,
    room: str,
    started_at: datetime,
    outcome: str,
    history: ChatContext,
    keep: timedelta,
    now: datetime,
) -> Path:
    """Write one call's transcript (after pruning old ones) and return its path."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    prune(directory, keep=keep, now=now)
    safe_room = re.sub(r"[^A-Za-z0-9_.-]", "_", room)[:80]
    path = directory / f"{started_at:%Y%m%dT%H%M%SZ}-{safe_room}.txt"
    lines = [f"call {safe_room}  started {started_at.isoformat()}  outcome {outcome}", ""]

    def private(text: str) -> str:
        return mask_numbers(mask_birth_dates(text, this_year=now.year))

    for item in history.items:
        if item.type == "message" and item.role in ("user", "assistant"):
            who = "callee" if item.role == "user" else "agent"
            lines.append(f"{who}: {private(item.text_content or '')}")
        elif item.type == "function_call":
            lines.append(f"tool:  {item.name}({private(item.arguments)})")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
