"""A practice described in one file: its details, opening hours, closed dates, appointment
types and providers. Validated as a whole, every problem named with its line.

    practice:
      name: Riverside Family Dentistry
      timezone: America/Chicago
      callback_number: "+13125550100"
      address: 1200 River Road, Suite 4
      parking: Free parking behind the building.
      hours:
        monday: 08:00-12:00, 13:00-17:00
        saturday: 09:00-13:00
      closed:
        2026-12-25: Christmas Day
    appointment_types:
      Check-up: 30
      Cleaning: 45
    providers:
      - name: Dr. Ana Ruiz
        role: dentist
        hours:
          monday: 08:00-12:00, 13:00-17:00
        does: Check-up, Cleaning

Every value is read as text and then checked (so ``13:00`` stays a time and ``no`` stays a
word, whatever YAML 1.1 would make of them).
"""

from __future__ import annotations

import re
from datetime import date, time
from itertools import pairwise
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from ..phone import to_e164
from ..zones import time_zone

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PERIOD = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class SpecError(ValueError):
    """The description is not valid; ``problems`` names each, with its line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s)")
        self.problems = problems


def _clock(hours: str, minutes: str) -> time:
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"{hours}:{minutes} is not a time of day")
    return time(h, m)


def parse_period(text: str) -> tuple[time, time]:
    """``"08:00-12:00"`` as (08:00, 12:00)."""
    match = PERIOD.match(text)
    if match is None:
        raise ValueError(f"{text.strip()!r} is not a period like 08:00-12:00")
    start, end = _clock(*match.groups()[:2]), _clock(*match.groups()[2:])
    if start >= end:
        raise ValueError(f"{text.strip()!r} ends before it starts")
    return start, end


def _periods(value: Any) -> Any:
    """``"08:00-12:00, 13:00-17:00"`` or a list of such, or ``closed``, as periods."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out: list[tuple[time, time]] = []
    for item in items:
        if isinstance(item, tuple) and len(item) == 2 and all(isinstance(t, time) for t in item):
            out.append(item)  # already read: the store's own hours
            continue
        if not isinstance(item, str):
            raise ValueError("give periods like 08:00-12:00, 13:00-17:00")
        if item.strip().lower() in ("closed", "off", ""):
            continue
        out.extend(parse_period(part) for part in item.split(","))
    out.sort()
    for (_, end), (start, _) in pairwise(out):
        if start < end:
            raise ValueError("two periods overlap")
    return out


def _names(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def show_periods(periods: list[tuple[time, time]]) -> str:
    return ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in periods) or "closed"


Periods = Annotated[list[tuple[time, time]], BeforeValidator(_periods)]
Names = Annotated[list[str], BeforeValidator(_names)]
Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else v)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


Weekday = Annotated[
    Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
]
Week = Annotated[
    dict[Weekday, Periods],
    # a day with no periods is a closed day: the same as a day not listed
    AfterValidator(lambda week: {day: periods for day, periods in week.items() if periods}),
]


def _closed(value: Any) -> Any:
    if value is None:
        return {}
    if isinstance(value, list):  # a list of dates with no reasons
        return {day: "" for day in value}
    return value


class PracticeDetails(_Spec):
    name: str = Field(min_length=1, max_length=200)
    timezone: str
    callback_number: str
    address: Text = ""
    parking: Text = ""
    hours: Week = Field(default_factory=dict)
    closed: Annotated[dict[date, Text], BeforeValidator(_closed)] = Field(default_factory=dict)
    call_window: Annotated[
        tuple[time, time], BeforeValidator(lambda v: parse_period(v) if isinstance(v, str) else v)
    ] = (time(8), time(21))
    call_on_closed_days: bool = False

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        time_zone(value)
        return value

    @field_validator("callback_number")
    @classmethod
    def _number(cls, value: str) -> str:
        return to_e164(value)


class AppointmentTypeSpec(_Spec):
    name: str = Field(min_length=1, max_length=100)
    minutes: int = Field(ge=5, le=480)


class ProviderSpec(_Spec):
    name: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=50)
    hours: Week = Field(default_factory=dict)
    does: Names = Field(default_factory=list)


def _types(value: Any) -> Any:
    if isinstance(value, dict):  # "Check-up: 30"
        return [{"name": k, "minutes": v} for k, v in value.items()]
    return value


class PracticeSpec(_Spec):
    """Everything about one practice that is not patients or appointments."""

    practice: PracticeDetails
    appointment_types: Annotated[list[AppointmentTypeSpec], BeforeValidator(_types)] = Field(
        default_factory=list
    )
    providers: list[ProviderSpec] = Field(default_factory=list)


def conflicts(
    types: list[str], providers: list[tuple[str, list[str]]]
) -> list[tuple[tuple[Any, ...], str]]:
    """What no single field shows, from the appointment types' names and each provider's
    name and types: a name given twice, a provider doing a type that is not listed; each
    with where it is (a path into the description)."""
    found: list[tuple[tuple[Any, ...], str]] = []
    known: set[str] = set()
    for i, name in enumerate(types):
        if name.lower() in known:
            found.append((("appointment_types", i), f"{name!r} is listed twice"))
        known.add(name.lower())
    names: set[str] = set()
    for i, (name, does) in enumerate(providers):
        if name.lower() in names:
            found.append((("providers", i, "name"), f"{name!r} is listed twice"))
        names.add(name.lower())
        unknown = [n for n in does if n.lower() not in known]
        if unknown:
            found.append(
                (
                    ("providers", i, "does"),
                    f"{', '.join(map(repr, unknown))}: not among the appointment_types",
                )
            )
    return found


def _spec_conflicts(spec: PracticeSpec) -> list[tuple[tuple[Any, ...], str]]:
    return conflicts(
        [t.name for t in spec.appointment_types], [(p.name, p.does) for p in spec.providers]
    )


def _data_conflicts(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """:func:`conflicts` in a description that did not validate, as far as it can be read."""
    types = _types(data.get("appointment_types"))
    providers = data.get("providers")
    return conflicts(
        [str(t.get("name")) for t in types if isinstance(t, dict)]
        if isinstance(types, list)
        else [],
        [
            (str(p.get("name")), [str(n) for n in _names(p.get("does"))])
            for p in providers
            if isinstance(p, dict) and isinstance(_names(p.get("does")), list)
        ]
        if isinstance(providers, list)
        else [],
    )


def check(spec: PracticeSpec) -> PracticeSpec:
    """``spec`` if it has no :func:`conflicts`.

    Raises:
        SpecError: naming each.
    """
    found = _spec_conflicts(spec)
    if found:
        raise SpecError([message for _, message in found])
    return spec


# -- reading the file ----------------------------------------------------------------------


def _plain(node: yaml.Node, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> Any:
    """``node`` as Python data with every scalar as text (None when empty), noting the
    line of each path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
            if name in out:
                raise SpecError([f"line {key.start_mark.line + 1}: {name!r} is given twice"])
            out[name] = _plain(value, (*path, name), lines)
            lines[(*path, name)] = key.start_mark.line + 1  # a key's problems: its own line
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    value = node.value
    if value == "" or (node.style is None and value in ("~", "null")):
        return None
    return value


def _in_file(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """``loc`` (a path into the validated description) as a path into the file's data: the
    n-th entry of a mapping the description reads as a list (``Check-up: 30``) is its key."""
    path: list[Any] = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, int) and 0 <= part < len(data):
            part = list(data)[part]
        path.append(part)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            data = None
    return tuple(path)


def _line(path: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int:
    """The line of ``path``, or of the nearest enclosing part the file has."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def parse_spec(text: str) -> PracticeSpec:
    """A :class:`PracticeSpec` from the YAML ``text``.

    Raises:
        SpecError: naming every problem, each with its line, earliest first.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise SpecError([f"line {line}: not valid YAML: {exc.problem or exc}"]) from None
    if root is None:
        raise SpecError(["line 1: the file is empty; start with 'practice:'"])
    lines: dict[tuple[Any, ...], int] = {}
    data = _plain(root, (), lines)
    if not isinstance(data, dict):
        raise SpecError(["line 1: the file must be a mapping starting with 'practice:'"])
    found: list[tuple[tuple[Any, ...], str]] = []
    try:
        spec = PracticeSpec.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p != "[key]")
            found.append((loc, str(err["msg"]).removeprefix("Value error, ")))
        found += _data_conflicts(data)
    else:
        found = _spec_conflicts(spec)
    if not found:
        return spec
    problems = []
    for loc, message in found:
        path = _in_file(data, loc)
        where = ".".join(str(p) for p in path)
        problems.append((_line(path, lines), f"{where}: {message}" if where else message))
    problems.sort(key=lambda p: p[0])
    raise SpecError([f"line {line}: {message}" for line, message in problems])


def dump_spec(spec: PracticeSpec) -> str:
    """``spec`` as the YAML :func:`parse_spec` reads back to the same thing."""
    p = spec.practice
    practice: dict[str, Any] = {
        "name": p.name,
        "timezone": p.timezone,
        "callback_number": p.callback_number,
        "address": p.address,
        "parking": p.parking,
        "hours": {day: show_periods(p.hours[day]) for day in WEEKDAYS if day in p.hours},
        "closed": {day.isoformat(): reason for day, reason in sorted(p.closed.items())},
        "call_window": show_periods([p.call_window]),
        "call_on_closed_days": p.call_on_closed_days,
    }
    data = {
        "practice": practice,
        "appointment_types": {t.name: t.minutes for t in spec.appointment_types},
        "providers": [
            {
                "name": v.name,
                "role": v.role,
                "hours": {day: show_periods(v.hours[day]) for day in WEEKDAYS if day in v.hours},
                "does": ", ".join(v.does),
            }
            for v in spec.providers
        ],
    }
    return str(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100))
