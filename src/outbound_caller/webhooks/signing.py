"""How a webhook request is signed, and how a receiver checks it.

Each request carries ``Outbound-Caller-Signature: t=<unix seconds>,v1=<hex>``, where the hex
is HMAC-SHA256 with ``WEBHOOK_SECRET`` over ``<t>.<body>`` (the body's bytes as sent), and
``Outbound-Caller-Event-Id``, the event's id, the same on every attempt: a receiver checks
the signature, refuses a timestamp too far from its clock (replays), and deduplicates by id.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "Outbound-Caller-Signature"
EVENT_ID_HEADER = "Outbound-Caller-Event-Id"
TOLERANCE_S = 300  # how far a signature's timestamp may be from the receiver's clock


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, now: float) -> bool:
    """What a receiver checks: the header is ours for this body, and recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > TOLERANCE_S:
        return False
    return hmac.compare_digest(parts.get("v1", ""), _mac(secret, timestamp, body))
