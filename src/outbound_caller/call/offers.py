"""Finding open times the way patients ask for them: a day or a range of days, a part of
the day, an earliest or latest time, the same provider; moving on to the next open day when
the asked ones are full; a few well-spread options rather than every slot.

The options reach the model under short ids (``s1``, ``s2``, ...) that only this call
knows; the code maps them back to the real slots.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from ..errors import InvalidRequest
from ..store.scheduling import Scheduler, Slot

PartOfDay = Literal["any", "morning", "afternoon", "evening"]
PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(0), time(12)),
    "afternoon": (time(12), time(17)),
    "evening": (time(17), time.max),
}
MAX_OPTIONS = 4
MAX_RANGE_DAYS = 14  # the most days one search covers
MOVE_ON_DAYS = 14  # how far past a full range the search looks for the next open day


@dataclass(frozen=True)
class Search:
    first: date
    last: date
    duration: timedelta
    type_name: str | None = None  # only providers who do this type
    provider: str | None = None  # only this provider
    part: PartOfDay = "any"
    earliest: time | None = None
    latest: time | None = None  # the latest start


@dataclass(frozen=True)
class Found:
    options: list[Slot]  # at most MAX_OPTIONS, spread over the matches, by time
    more: int  # matching times not among the options
    moved_on: bool  # nothing matched in the asked days; these are from the next open day


def part_of(moment: time) -> str:
    return next(name for name, (lo, hi) in PARTS.items() if lo <= moment < hi)


def matches(slot: Slot, search: Search, zone: ZoneInfo) -> bool:
    start = slot.start.astimezone(zone).time()
    if search.provider is not None and slot.provider != search.provider:
        return False
    if search.part != "any" and part_of(start) != search.part:
        return False
    if search.earliest is not None and start < search.earliest:
        return False
    return search.latest is None or start <= search.latest


def spread(slots: list[Slot], zone: ZoneInfo, k: int = MAX_OPTIONS) -> list[Slot]:
    """Up to ``k`` of ``slots`` (sorted by time): the first of each day and part of the day
    first, evenly chosen when there are more such groups than ``k``, then evenly spaced
    others; returned in time order."""
    if len(slots) <= k:
        return list(slots)
    groups: dict[tuple[date, str], Slot] = {}
    for s in slots:
        local = s.start.astimezone(zone)
        groups.setdefault((local.date(), part_of(local.time())), s)
    firsts = list(groups.values())
    if len(firsts) >= k:
        chosen = [firsts[round(i * (len(firsts) - 1) / (k - 1))] for i in range(k)]
    else:
        rest = [s for s in slots if s not in firsts]
        need = k - len(firsts)
        step = len(rest) / need
        chosen = [*firsts, *(rest[int(i * step + step / 2)] for i in range(need))]
    return sorted(chosen, key=lambda s: (s.start, s.provider))


async def _day(scheduler: Scheduler, day: date, search: Search, zone: ZoneInfo) -> list[Slot]:
    slots = await scheduler.availability(day, duration=search.duration, type_name=search.type_name)
    return [s for s in slots if matches(s, search, zone)]


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


async def find(scheduler: Scheduler, search: Search, zone: ZoneInfo) -> Found:
    """The options for ``search``; past the asked days, the next day with a match.

    Raises:
        SchedulingError: the schedule cannot be read; InvalidRequest for a first day in
            the past or beyond the booking horizon.
    """
    hits: list[Slot] = []
    for day in days(search.first, search.last):
        try:
            hits += await _day(scheduler, day, search, zone)
        except InvalidRequest:
            if day == search.first:
                raise
            break  # past the booking horizon: no later day can be booked either
    moved_on = False
    if not hits:
        moved_on = True
        for day in days(search.last + timedelta(days=1), search.last + timedelta(MOVE_ON_DAYS)):
            try:
                hits = await _day(scheduler, day, search, zone)
            except InvalidRequest:
                break
            if hits:
                break
    options = spread(hits, zone)
    return Found(options, len(hits) - len(options), moved_on)
