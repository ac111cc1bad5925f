"""Turning dates and times into words a caller hears naturally."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo


def ordinal(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }".replace(" ", "")


def speak_date(day: date) -> str:
    """``Tuesday the 3rd of December``."""
    return f"{day:%A} the {ordinal(day.day)} of {day:%B}"


def speak_time(moment: datetime) -> str:
    """``2:30 in the afternoon``, ``9 in the morning``, ``noon``."""
    hour, minute = moment.hour, moment.minute
    if hour == 12 and minute == 0:
        return "noon"
    clock = hour % 12 or 12
    text = f"{clock}" if minute == 0 else f"{clock}:{minute:02d}"
    if hour < 12:
        part = "in the morning"
    elif hour < 17:
        part = "in the afternoon"
    else:
        part = "in the evening"
    return f"{text} {part}"


def speak_when(moment: datetime, zone: ZoneInfo) -> str:
    """``Tuesday the 3rd of December at 2:30 in the afternoon`` in ``zone``."""
    local = moment.astimezone(zone)
    return f"{speak_date(local.date())} at {speak_time(local)}"
