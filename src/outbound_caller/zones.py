"""IANA time zones, validated in one place for settings, imports and campaigns."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def time_zone(name: str) -> ZoneInfo:
    """The zone ``name`` (e.g. ``America/New_York``); ValueError for anything else, including
    a tzdata folder such as ``America``, an absolute path or an empty name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        # OSError: a folder of the tzdata tree (IsADirectoryError) or an unreadable file
        shown = repr(name if len(name) <= 60 else name[:57] + "...")
        raise ValueError(f"{shown} is not a known time zone (e.g. America/New_York)") from None
