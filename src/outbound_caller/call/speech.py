"""Turning dates, times and phone numbers into words a caller hears naturally.

Dates follow the practice's convention: month first in the Americas ("Tuesday, December
1st"), day first elsewhere ("Tuesday the 1st of December"); "today" and "tomorrow" are said
as such when they are.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers


def ordinal(n: int) -> str:
    if 11 <= n % 100 <= 13:
        return f"{n}th"
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th') }".replace(" ", "")


def month_first(zone: ZoneInfo | None) -> bool:
    """Whether the practice's dates are said month first (its zone is in the Americas)."""
    return zone is None or str(zone).startswith(("America/", "US/", "Pacific/Honolulu"))


def speak_date(day: date, zone: ZoneInfo | None = None, *, today: date | None = None) -> str:
    """``Tuesday, December 1st`` (``Tuesday the 1st of December`` outside the Americas),
    preceded by ``today, `` or ``tomorrow, `` when ``today`` says it is."""
    if month_first(zone):
        text = f"{day:%A}, {day:%B} {ordinal(day.day)}"
    else:
        text = f"{day:%A} the {ordinal(day.day)} of {day:%B}"
    if today is not None and day == today:
        return f"today, {text}"
    if today is not None and day == today + timedelta(days=1):
        return f"tomorrow, {text}"
    return text


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


def speak_when(moment: datetime, zone: ZoneInfo, *, today: date | None = None) -> str:
    """``Tuesday, December 1st at 2:30 in the afternoon`` in ``zone``."""
    local = moment.astimezone(zone)
    return f"{speak_date(local.date(), zone, today=today)} at {speak_time(local)}"


def speak_phone(number: str) -> str:
    """A phone number the way people read one out: its national groups, digit by digit,
    a pause between groups (``4 1 5, 5 5 5, 0 1 0 0`` for +1 415 555 0100)."""
    try:
        parsed = phonenumbers.parse(number, None)
        national = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = number.lstrip("+")
    groups = [g for part in national.replace("-", " ").split() if (g := _digits(part))]
    return ", ".join(" ".join(g) for g in groups) if groups else number


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())
