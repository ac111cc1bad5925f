"""Phone numbers: parsing to E.164 and masking for logs."""

from __future__ import annotations

import phonenumbers

MAX_INPUT_LENGTH = 32
ALLOWED = set("0123456789+-(). ")


def to_e164(raw: str, *, default_region: str | None = None) -> str:
    """Parse ``raw`` and return it in E.164 form (``+14155550123``).

    Numbers without a leading ``+`` are only accepted when ``default_region``
    (an ISO 3166 code such as ``"US"``) says which country they belong to.

    Raises:
        ValueError: with a reason a person can act on.
    """
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    text = raw.strip()
    if not text:
        raise ValueError("is empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise ValueError(f"is longer than {MAX_INPUT_LENGTH} characters")
    if not set(text) <= ALLOWED:
        raise ValueError("may only contain digits, spaces, +, -, ( ) and .")
    if not text.startswith("+") and default_region is None:
        raise ValueError("must be in E.164 form, starting with + and the country code")
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"is not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_valid_number(number):
        raise ValueError("is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask(number: str | None) -> str:
    """Mask a phone number to its last four digits for logs: ``***0123``."""
    if not number:
        return "<none>"
    digits = [c for c in str(number) if c.isdigit()]
    if len(digits) <= 4:
        return "***"
    return "***" + "".join(digits[-4:])


def region_of(e164: str) -> str | None:
    """The country (ISO 3166 code) of an E.164 number, or None: the region a number typed
    without its country code is read in, e.g. the practice's own."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(e164, None))
    except phonenumbers.NumberParseException:
        return None
    return region if region and region != "ZZ" else None
