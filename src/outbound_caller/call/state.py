"""What one call knows and may touch: the practice, the patient, the appointments it was
placed for, and the line. Every tool reaches it as ``RunContext[CallState].userdata``."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from livekit.agents import ToolError

from ..outcome import CallRecord
from ..store.scheduling import Appointment, Scheduler, Slot

ADULT_AGE = 18


class CallLine(Protocol):
    """What the tools can do to the phone line."""

    async def transfer(self, to_number: str) -> None:
        """SIP-transfer the callee to ``to_number``; raises TransferFailed."""

    async def warm_transfer(self, to_number: str, *, briefing: str) -> None:
        """Brief the desk at ``to_number`` and connect the callee; raises TransferFailed."""

    def hang_up_soon(self, reason: str) -> None:
        """Hang up (delete the room) in the background."""

    def machine_reached(self) -> None:
        """The model heard an answering machine: follow the voicemail policy."""

    def hold(self) -> None:
        """The callee asked to hold on: the silence check-in waits longer."""


@dataclass(frozen=True)
class Practice:
    name: str
    zone: ZoneInfo
    callback_number: str
    address: str = ""  # what the agent may say when asked where the practice is
    parking: str = ""
    # the opening hours: (weekday, opens, closes) in the practice's zone; empty: unknown
    hours: tuple[tuple[int, time, time], ...] = ()
    closed_days: frozenset[date] = frozenset()  # holidays and other dates it is shut

    def is_open(self, moment: datetime) -> bool | None:
        """Whether the office is open at ``moment`` (None: its hours are not known)."""
        if not self.hours:
            return None
        local = moment.astimezone(self.zone)
        if local.date() in self.closed_days:
            return False
        return any(d == local.weekday() and a <= local.time() < b for d, a, b in self.hours)

    def closed_on(self, day: date) -> bool:
        """True when the hours are known and the office does not open on ``day``."""
        if not self.hours:
            return False
        return day in self.closed_days or all(d != day.weekday() for d, _, _ in self.hours)


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
    warm_transfer: bool = False  # brief the desk before connecting (TRANSFER_MODE=warm)
    log_extra: dict[str, Any] = field(default_factory=dict)
    verify_date_of_birth: bool = False  # the practice asks for it before any detail
    date_of_birth: date | None = None  # on file for the patient, when the store has it
    identified: bool = False  # the person is the patient (or a minor's parent or guardian)
    speaker: str = "patient"  # who was confirmed: "patient" or "parent or guardian"
    verified: bool = False  # the date of birth matched
    failed_checks: int = 0
    offers: dict[str, Slot] = field(default_factory=dict)  # "s1" -> the time it stands for
    read_back: tuple[str, int] | None = None  # the offer read back, and the user turn then

    def must_verify(self) -> bool:
        return self.verify_date_of_birth and self.date_of_birth is not None

    def today(self) -> date:
        return self.now().astimezone(self.practice.zone).date()

    def patient_is_minor(self) -> bool:
        """Under 18 by the date of birth on file (unknown: not a minor)."""
        born = self.date_of_birth
        if born is None:
            return False
        today = self.today()
        age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return age < ADULT_AGE

    def pick(self, number: int | None) -> tuple[int, Appointment]:
        """The call's appointment the model means: its position (0-based) and itself.

        Raises:
            ToolError: none on file, several and no number given, or no such number.
        """
        count = len(self.appointments)
        if count == 0:
            raise ToolError(
                "There is no appointment on file for this patient: nothing to change. Offer "
                "that the office calls them to book one."
            )
        if number is None:
            if count > 1:
                raise ToolError(
                    f"The patient has {count} appointments on this call: ask which one they "
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
