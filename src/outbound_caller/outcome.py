"""The record every call leaves behind: how it went, never what was said."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

logger = logging.getLogger(__name__)


class CallStatus(StrEnum):
    DIALING = "dialing"
    ANSWERED = "answered"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    DECLINED = "declined"
    FAILED = "failed"
    # the trunk itself refused the call (credentials or TLS): no patient was rung
    TRUNK_FAILED = "trunk_failed"


def status_for_sip(code: int | None) -> CallStatus:
    """Map a SIP final response of a failed dial to the outcome a practice understands."""
    if code in (486, 600):
        return CallStatus.BUSY
    if code in (603, 607, 608):
        return CallStatus.DECLINED
    if code in (408, 480, 487):
        return CallStatus.NO_ANSWER
    return CallStatus.FAILED


@dataclass
class CallRecord:
    """Mutable while the call runs; logged once when it ends."""

    started_at: datetime
    status: CallStatus = CallStatus.DIALING
    sip_code: int | None = None
    sip_status: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    hangup_reason: str | None = None
    transferred: bool = False
    amd: str | None = None  # answering-machine verdict, when one was made
    tools_used: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    callback_at: datetime | None = None  # the patient asked to be called back then (UTC)
    callback_note: str | None = None
    office_messages: list[str] = field(default_factory=list)  # for the staff; never logged

    @property
    def duration_seconds(self) -> float | None:
        if self.answered_at is None or self.ended_at is None:
            return None
        return round((self.ended_at - self.answered_at).total_seconds(), 1)

    def as_log_fields(self) -> dict[str, Any]:
        return {
            "outcome": self.status.value,
            "sip_code": self.sip_code,
            "hangup_reason": self.hangup_reason,
            "duration_s": self.duration_seconds,
            "transferred": self.transferred,
            "tools_used": list(self.tools_used),
            "changes": list(self.changes),
            "errors": list(self.errors),
            "callback_at": self.callback_at.isoformat() if self.callback_at else None,
            "office_messages": len(self.office_messages),
        }
