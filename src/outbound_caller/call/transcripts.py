"""Call transcripts: written only when ``TRANSCRIPT_DIR`` names a directory, one file per
call, phone numbers masked, and removed once older than the retention period. Audio is
never written anywhere."""

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
    directory.mkdir(parents=True, exist_ok=True)
    prune(directory, keep=keep, now=now)
    safe_room = re.sub(r"[^A-Za-z0-9_.-]", "_", room)[:80]
    path = directory / f"{started_at:%Y%m%dT%H%M%SZ}-{safe_room}.txt"
    lines = [f"call {safe_room}  started {started_at.isoformat()}  outcome {outcome}", ""]
    for item in history.items:
        if item.type == "message" and item.role in ("user", "assistant"):
            who = "callee" if item.role == "user" else "agent"
            lines.append(f"{who}: {mask_numbers(item.text_content or '')}")
        elif item.type == "function_call":
            lines.append(f"tool:  {item.name}({mask_numbers(item.arguments)})")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return path
