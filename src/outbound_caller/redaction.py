"""Keeping what was said on a call out of the worker's log.

The framework names the log fields that carry content ``lk.pii.*``: the answering-machine
detector's transcript of the greeting ("Hi, you've reached the Park family…"), what the
patient said, a tool's output, the text spoken. It marks them so that its exporters can drop
them, but its own log handlers print them, and a worker's log is read by whoever runs it.
:func:`install` blanks each such field of the framework's records before any handler sees
them (a job process's records included: they are blanked there, before they are sent to the
worker's process). The field stays, as ``[redacted]``, so a log still shows that there was
one.
"""

from __future__ import annotations

import logging

from livekit.agents.telemetry.pii import is_pii_attribute

REDACTED = "[redacted]"
# the loggers the framework logs content on (its own, and its DTMF workflow's)
LOGGERS = ("livekit.agents", "dtmf-inputs")


class RedactContent(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key in [k for k in vars(record) if is_pii_attribute(k)]:
            setattr(record, key, REDACTED)
        return True


def install() -> None:
    """Redact on every logger in :data:`LOGGERS` (once, however often it is called)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactContent) for f in logger.filters):
            logger.addFilter(RedactContent())
