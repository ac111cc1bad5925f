"""Free slots from working hours minus bookings: pure functions, no database.

Working periods are wall-clock times in the practice's zone; every period is turned into
aware datetimes for the day in question (so daylight-saving days come out right) and all
arithmetic after that is in UTC.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from zoneinfo import ZoneInfo

from ..errors import InvalidRequest
from .scheduling import Slot

Period = tuple[time, time]
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class ProviderDay:
    """One provider's working periods on the day, and their bookings around it (UTC)."""

    provider_id: int
    name: str
    periods: Sequence[Period]
    bookings: Sequence[Interval]


_MIX = 0x9E3779B97F4A7C15  # odd, so multiplying by it is a bijection modulo 2**64
_UNMIX = pow(_MIX, -1, 2**64)
BAD_SLOT = "That time is not an open time the schedule offered."


def _scramble(value: int, factor: int) -> int:
    """multiply, fold the high half into the low, multiply: its own inverse with _UNMIX"""
    value = value * factor % 2**64
    value ^= value >> 32
    return value * factor % 2**64


def encode_slot_id(provider_id: int, start: datetime) -> str:
    """An opaque, stable id that still names its provider and start, so any worker can
    check it against the database without remembering what it offered. Neighbouring
    slots get unrelated-looking ids, so they are hard to mix up."""
    minutes = int(start.astimezone(UTC).timestamp() // 60)
    return f"slot_{_scramble((provider_id << 32) | minutes, _MIX):016x}"


def decode_slot_id(slot_id: str) -> tuple[int, datetime]:
    """Raises InvalidRequest for anything that is not a slot id this code made."""
    text = slot_id.strip().lower()
    body = text[5:]
    if not text.startswith("slot_") or len(body) != 16:
        raise InvalidRequest(BAD_SLOT)
    try:
        value = int(body, 16)
    except ValueError:
        raise InvalidRequest(BAD_SLOT) from None
    plain = _scramble(value, _UNMIX)
    provider_id, minutes = plain >> 32, plain & 0xFFFFFFFF
    return provider_id, datetime.fromtimestamp(minutes * 60, UTC)


def intersect(a: Iterable[Period], b: Iterable[Period]) -> list[Period]:
    """Wall-clock periods present in both ``a`` and ``b``."""
    out = []
    for a0, a1 in a:
        for b0, b1 in b:
            lo, hi = max(a0, b0), min(a1, b1)
            if lo < hi:
                out.append((lo, hi))
    return sorted(out)


def localize(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """``day`` at wall-clock ``moment`` in ``zone``, as UTC. A wall time skipped by a
    spring-forward change (02:30 on such a day in New York) maps to the instant the gap ends
    (03:00 EDT): the first moment the clock on the wall reaches or passes it. A repeated wall
    time (fall back) is its first occurrence."""
    local = datetime.combine(day, moment, zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return local.astimezone(UTC)
    # In the gap: read with the offset after the change (fold=1) it falls before the change,
    # with the offset before it (fold=0) after; the change itself lies in between.
    lo = int(local.replace(fold=1).timestamp())
    hi = int(local.timestamp())
    after = datetime.fromtimestamp(hi, zone).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def free_slots(
    *,
    day: date,
    zone: ZoneInfo,
    practice_periods: Sequence[Period],
    providers: Sequence[ProviderDay],
    duration: timedelta,
    step: timedelta,
    now: datetime,
) -> list[Slot]:
    """Every start on ``day`` where ``duration`` fits inside a period that both the practice
    and the provider work, overlaps no booking, and begins after ``now``; sorted by time.

    Works in whole seconds since the epoch: a candidate [t, t + d) overlaps a booking
    exactly when the latest end among bookings starting before t + d is after t.
    """
    length, stride = int(duration.total_seconds()), int(step.total_seconds())
    now_s = now.timestamp()
    slots: list[Slot] = []
    for provider in providers:
        busy = sorted((int(b0.timestamp()), int(b1.timestamp())) for b0, b1 in provider.bookings)
        starts = [b0 for b0, _ in busy]
        latest_end = list(accumulate((b1 for _, b1 in busy), max))
        for opens, closes in intersect(practice_periods, provider.periods):
            t = int(localize(day, opens, zone).timestamp())
            end = int(localize(day, closes, zone).timestamp())
            while t + length <= end:
                k = bisect_left(starts, t + length)
                if t > now_s and (k == 0 or latest_end[k - 1] <= t):
                    begin = datetime.fromtimestamp(t, UTC)
                    slots.append(
                        Slot(
                            encode_slot_id(provider.provider_id, begin),
                            begin,
                            begin + duration,
                            provider.name,
                        )
                    )
                t += stride
    slots.sort(key=lambda s: (s.start, s.provider))
    return slots


def fits(
    *,
    start: datetime,
    duration: timedelta,
    day: date,
    zone: ZoneInfo,
    practice_periods: Sequence[Period],
    provider_periods: Sequence[Period],
    step: timedelta | None = None,
) -> bool:
    """True when [start, start + duration) lies inside working time on ``day`` and, with
    ``step``, begins on the grid :func:`free_slots` offers (every ``step`` from the period's
    opening)."""
    end = start + duration
    for opens, closes in intersect(practice_periods, provider_periods):
        begins = localize(day, opens, zone)
        if begins <= start and end <= localize(day, closes, zone):
            return step is None or (start - begins) % step == timedelta(0)
    return False
