"""The project's exceptions.

Every error this package raises on purpose derives from one base class::

    OutboundCallerError
    ├── ConfigError          bad or missing settings; the message names every problem
    ├── MetadataError        dispatch metadata that cannot be used to place a call
    ├── ModelFilesMissing    turn-detector weights not downloaded
    ├── StoreError           the database cannot be reached, opened or migrated
    ├── TransferFailed       the SIP transfer was rejected or did not connect
    ├── CannotDial           no call can be placed at all (LiveKit rejects the credentials)
    └── SchedulingError      a scheduling request that cannot be honoured
        ├── AppointmentNotFound
        ├── SlotUnavailable  the slot is gone (taken, or in the past)
        ├── InvalidRequest   a date or slot id that makes no sense
        └── ScheduleUnavailable  the schedule (database) cannot be reached right now

Messages of ``SchedulingError`` are short sentences that can be read to a caller.
"""

from __future__ import annotations


class OutboundCallerError(Exception):
    """Base class of every error raised on purpose by outbound_caller."""


class ConfigError(OutboundCallerError):
    """Settings are missing or malformed. ``problems`` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"configuration has {len(problems)} problem(s):\n{lines}")


class MetadataError(OutboundCallerError):
    """Dispatch metadata cannot be used to place a call."""


class ModelFilesMissing(OutboundCallerError):
    """Model weights needed by the configured turn detector are not on disk."""


class StoreError(OutboundCallerError):
    """The scheduling store cannot be reached, opened or migrated (operator-facing)."""


class CannotDial(OutboundCallerError):
    """No call can be placed at all, whoever it is for (LiveKit rejects the credentials):
    a campaign stops rather than fail every patient's call in turn."""


class TransferFailed(OutboundCallerError):
    """The SIP transfer was rejected or did not connect."""


class SchedulingError(OutboundCallerError):
    """A scheduling request cannot be honoured; the message is speakable."""


class AppointmentNotFound(SchedulingError):
    """The appointment the call is about does not exist."""


class SlotUnavailable(SchedulingError):
    """The requested slot is no longer free, is in the past, or was never offered."""


class InvalidRequest(SchedulingError):
    """A date or slot id that cannot be understood."""


class ScheduleUnavailable(SchedulingError):
    """The schedule cannot be read or written right now (the database failed)."""
