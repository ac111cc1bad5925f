"""What was said on a call never reaches the worker's log: the framework's content fields
(``lk.pii.*``) are blanked before any handler formats them."""

from __future__ import annotations

import io
import logging

import pytest
from livekit.agents.cli.log import JsonFormatter

import outbound_caller.worker  # noqa: F401  (installs the redaction, as the worker does)
from outbound_caller.redaction import REDACTED

GREETING = "hi you've reached the park family please leave a message"


@pytest.mark.parametrize("name", ["livekit.agents", "dtmf-inputs"])
def test_the_frameworks_content_fields_are_blanked_before_the_log_is_written(name: str) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())  # the worker's production format
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        logging.getLogger(name).warning(
            "amd prediction",
            extra={"lk.pii.transcript": GREETING, "category": "machine-vm", "room": "call-1"},
        )
    finally:
        root.removeHandler(handler)
    line = out.getvalue()
    assert "park family" not in line
    assert f'"lk.pii.transcript": "{REDACTED}"' in line  # the field is there, its words not
    assert '"category": "machine-vm"' in line  # the other fields as they were
    assert '"room": "call-1"' in line
