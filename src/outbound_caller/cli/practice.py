"""``outbound-caller practice | provider | appointment-type``: the practice's set-up, from one
file or one change at a time. Every change reads the set-up, changes one thing and applies
the whole of it again, so the file and the commands obey the same rules."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from ..config import ENV_FILE, practice_differences
from ..store.appointments import Store
from ..store.practice_spec import (
    WEEKDAYS,
    PracticeSpec,
    SpecError,
    dump_spec,
    parse_spec,
    show_periods,
)
from ..store.practices import Applied, apply_spec, load_spec, practice_summaries
from .common import fail, with_store

practice_app = typer.Typer(
    rich_markup_mode=None,
    help="The practice: name, time zone, callback number, hours, closed days.",
    no_args_is_help=True,
)
provider_app = typer.Typer(
    rich_markup_mode=None, help="The practice's providers.", no_args_is_help=True
)
type_app = typer.Typer(
    rich_markup_mode=None,
    help="The kinds of appointment and how long each takes.",
    no_args_is_help=True,
)

PracticeOption = Annotated[
    int | None,
    typer.Option("--practice", help="Which practice (its id); needed only when there are several."),
]


def _problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p != "[key]")
        message = str(err["msg"]).removeprefix("Value error, ")
        out.append(f"{where}: {message}" if where else message)
    return out


def _apply(
    spec: PracticeSpec, practice: int | None, renamed: dict[str, str] | None = None
) -> Applied:
    async def work(store: Store) -> Applied:
        await store.upgrade()
        return await apply_spec(store, spec, practice, renamed=renamed)

    try:
        return with_store(work)
    except SpecError as exc:
        raise fail("; ".join(exc.problems), 2) from None


def _edit(
    practice: int | None,
    change: Callable[[dict[str, Any]], None],
    renamed: dict[str, str] | None = None,
) -> Applied:
    """Read the set-up, let ``change`` edit it (as plain data), check it and apply it: one
    store opened, on a schema that must already be the latest."""

    async def work(store: Store) -> Applied:
        await store.check()
        data = (await load_spec(store, practice)).model_dump()
        change(data)
        try:
            spec = PracticeSpec.model_validate(data)
        except ValidationError as exc:
            raise fail("; ".join(_problems(exc)), 2) from None
        return await apply_spec(store, spec, practice, renamed=renamed)

    try:
        return with_store(work)
    except SpecError as exc:
        raise fail("; ".join(exc.problems), 2) from None


def _said(applied: Applied, what: str) -> None:
    typer.echo(what if applied.changed else "nothing to change: it was already so")
    _note_settings(applied.spec)


def _note_settings(spec: PracticeSpec) -> None:
    """Say so when PRACTICE_* settings disagree with the store's practice (the store wins
    for stored appointments; the settings only speak for calls placed without one)."""
    p = spec.practice
    differ = practice_differences(
        os.environ, name=p.name, timezone=p.timezone, callback_number=p.callback_number
    )
    if differ:
        typer.echo(
            "outbound-caller: note: settings that disagree with the store's practice: "
            f"{', '.join(differ)} (environment or {ENV_FILE}); calls about stored appointments "
            "use the store's, so change or remove those settings",
            err=True,
        )


def _week_option(values: list[str] | None) -> dict[str, Any] | None:
    """``--hours monday=08:00-12:00,13:00-17:00`` (repeated) as a week; None when not given."""
    if not values:
        return None
    week: dict[str, Any] = {}
    for value in values:
        day, sep, periods = value.partition("=")
        if not sep:
            raise fail(
                f"--hours {value!r}: give DAY=PERIODS, e.g. monday=08:00-12:00,13:00-17:00", 2
            )
        for one in _days(day):
            week[one] = periods
    return week


def _days(text: str) -> list[str]:
    """``monday``, ``mon-fri`` or ``weekdays``, as weekday names."""
    text = text.strip().lower()
    if text == "weekdays":
        return list(WEEKDAYS[:5])
    first, _, last = text.partition("-")
    names = [_weekday(first)] if not last else None
    if names is not None:
        return names
    a, b = WEEKDAYS.index(_weekday(first)), WEEKDAYS.index(_weekday(last))
    if a > b:
        raise fail(f"{text!r}: the days run from Monday to Sunday", 2)
    return list(WEEKDAYS[a : b + 1])


def _weekday(text: str) -> str:
    matches = [d for d in WEEKDAYS if len(text) >= 3 and d.startswith(text)]
    if len(matches) != 1:
        raise fail(f"{text!r} is not a weekday (monday ... sunday, or mon, tue ...)", 2)
    return matches[0]


# -- practice ------------------------------------------------------------------------------


@practice_app.command("apply")
def practice_apply(
    file: Annotated[Path, typer.Argument(help="The practice description (YAML); see the README.")],
    practice: PracticeOption = None,
) -> None:
    """Set the practice up from one file, in one transaction. Re-applying it is safe."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}", 2) from None
    try:
        spec = parse_spec(text)
    except SpecError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise fail(f"nothing applied: {len(exc.problems)} problem(s) in {file}", 2) from None
    applied = _apply(spec, practice)
    if not applied.changed:
        typer.echo(
            f"practice #{applied.practice_id} is already as {file} describes; nothing changed"
        )
        _note_settings(spec)
        return
    types, providers = len(spec.appointment_types), len(spec.providers)
    typer.echo(
        f"practice #{applied.practice_id} {spec.practice.name} "
        f"{'created' if applied.created else 'updated'}: {types} appointment type(s), "
        f"{providers} provider(s)"
    )
    _note_settings(spec)


@practice_app.command("show")
def practice_show(practice: PracticeOption = None) -> None:
    """Print the set-up as a practice file (edit it and `practice apply` it back)."""

    async def work(store: Store) -> PracticeSpec:
        await store.check()
        return await load_spec(store, practice)

    spec = with_store(work)
    typer.echo(dump_spec(spec), nl=False)
    _note_settings(spec)


@practice_app.command("list")
def practice_list() -> None:
    """The practices in the store."""

    async def work(store: Store) -> Any:
        await store.check()
        return await practice_summaries(store)

    rows = with_store(work)
    typer.echo(f"{'id':>4}  {'name':<32}  {'time zone':<20}  {'callback':<14}  set up")
    for r in rows:
        typer.echo(
            f"{r.id:>4}  {r.name:<32}  {r.timezone:<20}  {r.callback_number:<14}  "
            f"{r.providers} provider(s), {r.appointment_types} type(s), {r.patients} patient(s)"
        )
    typer.echo(f"{len(rows)} practice(s)")


@practice_app.command("create")
def practice_create(
    name: Annotated[str, typer.Option(help="The name the agent gives on every call.")],
    timezone: Annotated[str, typer.Option(help="An IANA time zone, e.g. America/Chicago.")],
    callback_number: Annotated[
        str, typer.Option(help="The number patients can call back, E.164 (+1...).")
    ],
    address: Annotated[str, typer.Option(help="What the agent says when asked where.")] = "",
    parking: Annotated[str, typer.Option(help="Parking notes the agent may give.")] = "",
    hours: Annotated[
        list[str] | None,
        typer.Option(help="Opening hours, DAY=PERIODS (repeat): weekdays=08:00-12:00,13:00-17:00"),
    ] = None,
) -> None:
    """Create the practice (the store's first). Add types and providers next."""

    async def existing(store: Store) -> int:
        await store.upgrade()
        return len(await practice_summaries(store))

    if with_store(existing):
        raise fail("a practice is set up already: change it with `practice set`", 2)
    data = {
        "practice": {
            "name": name,
            "timezone": timezone,
            "callback_number": callback_number,
            "address": address,
            "parking": parking,
            "hours": _week_option(hours) or {},
        }
    }
    try:
        spec = PracticeSpec.model_validate(data)
    except ValidationError as exc:
        raise fail("; ".join(_problems(exc)), 2) from None
    applied = _apply(spec, None)
    typer.echo(f"practice #{applied.practice_id} {spec.practice.name} created")
    _note_settings(spec)


@practice_app.command("set")
def practice_set(
    name: Annotated[str | None, typer.Option(help="The name the agent gives.")] = None,
    timezone: Annotated[str | None, typer.Option(help="An IANA time zone.")] = None,
    callback_number: Annotated[str | None, typer.Option(help="E.164 (+1...).")] = None,
    address: Annotated[str | None, typer.Option(help="Where the practice is.")] = None,
    parking: Annotated[str | None, typer.Option(help="Parking notes.")] = None,
    hours: Annotated[
        list[str] | None,
        typer.Option(help="DAY=PERIODS (repeat); the days named are replaced; DAY=closed."),
    ] = None,
    call_window: Annotated[
        str | None, typer.Option(help="When campaigns may call, patient's time: 08:00-21:00.")
    ] = None,
    practice: PracticeOption = None,
) -> None:
    """Change the practice's details; what is not given stays as it is."""
    week = _week_option(hours)

    def change(data: dict[str, Any]) -> None:
        p = data["practice"]
        for key, value in (
            ("name", name),
            ("timezone", timezone),
            ("callback_number", callback_number),
            ("address", address),
            ("parking", parking),
            ("call_window", call_window),
        ):
            if value is not None:
                p[key] = value
        if week is not None:
            p["hours"].update(week)

    _said(_edit(practice, change), "practice updated")


@practice_app.command("close")
def practice_close(
    day: Annotated[str, typer.Argument(help="The day, YYYY-MM-DD.")],
    reason: Annotated[str, typer.Option(help="Why, e.g. Thanksgiving.")] = "",
    practice: PracticeOption = None,
) -> None:
    """Close the practice on one day: nothing is booked, and no campaign calls about it."""
    when = _date(day)

    def change(data: dict[str, Any]) -> None:
        data["practice"]["closed"][when] = reason

    _said(_edit(practice, change), f"closed on {when:%a %Y-%m-%d}")


@practice_app.command("reopen")
def practice_reopen(
    day: Annotated[str, typer.Argument(help="The day, YYYY-MM-DD.")],
    practice: PracticeOption = None,
) -> None:
    """Undo `practice close` for one day."""
    when = _date(day)

    def change(data: dict[str, Any]) -> None:
        if data["practice"]["closed"].pop(when, None) is None:
            raise fail(f"the practice is not closed on {when}", 1)

    _said(_edit(practice, change), f"open again on {when:%a %Y-%m-%d}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{text!r} is not a date like 2026-12-24", 2) from None


# -- providers -----------------------------------------------------------------------------


def _find(items: list[dict[str, Any]], name: str, what: str) -> dict[str, Any]:
    for item in items:
        if item["name"].lower() == name.strip().lower():
            return item
    known = ", ".join(repr(i["name"]) for i in items) or "none yet"
    raise fail(f"there is no {what} {name!r} (there are: {known})", 1)


Does = Annotated[str | None, typer.Option(help="The appointment types they do, comma-separated.")]
Hours = Annotated[
    list[str] | None,
    typer.Option(help="Working hours, DAY=PERIODS (repeat): mon-fri=08:00-12:00,13:00-17:00"),
]


@provider_app.command("list")
def provider_list(practice: PracticeOption = None) -> None:
    """The providers, their hours and what they do."""

    async def work(store: Store) -> PracticeSpec:
        await store.check()
        return await load_spec(store, practice)

    spec = with_store(work)
    for v in spec.providers:
        typer.echo(f"{v.name} ({v.role}): does {', '.join(v.does) or 'nothing yet'}")
        for day in WEEKDAYS:
            if day in v.hours:
                typer.echo(f"    {day:<10} {show_periods(v.hours[day])}")
    typer.echo(f"{len(spec.providers)} provider(s)")


@provider_app.command("add")
def provider_add(
    name: Annotated[str, typer.Argument(help="As patients hear it: Dr. Ana Ruiz.")],
    role: Annotated[str, typer.Option(help="dentist, hygienist ...")],
    hours: Hours = None,
    does: Does = None,
    practice: PracticeOption = None,
) -> None:
    """Add a provider."""

    def change(data: dict[str, Any]) -> None:
        if any(v["name"].lower() == name.strip().lower() for v in data["providers"]):
            raise fail(f"there is a provider {name!r} already: change it with `provider set`", 2)
        data["providers"].append(
            {"name": name, "role": role, "hours": _week_option(hours) or {}, "does": does or []}
        )

    _said(_edit(practice, change), f"provider {name.strip()} added")


@provider_app.command("set")
def provider_set(
    name: Annotated[str, typer.Argument(help="The provider's name now.")],
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    role: Annotated[str | None, typer.Option(help="dentist, hygienist ...")] = None,
    hours: Hours = None,
    does: Does = None,
    practice: PracticeOption = None,
) -> None:
    """Change a provider: the days named in --hours are replaced, --does replaces the list."""
    week = _week_option(hours)

    def change(data: dict[str, Any]) -> None:
        v = _find(data["providers"], name, "provider")
        if rename is not None:
            v["name"] = rename
        if role is not None:
            v["role"] = role
        if week is not None:
            v["hours"].update(week)
        if does is not None:
            v["does"] = does

    renamed = {name.strip(): rename.strip()} if rename else None
    _said(_edit(practice, change, renamed), f"provider {(rename or name).strip()} updated")


@provider_app.command("remove")
def provider_remove(
    name: Annotated[str, typer.Argument(help="The provider's name.")],
    practice: PracticeOption = None,
) -> None:
    """Remove a provider who has no appointments."""

    def change(data: dict[str, Any]) -> None:
        data["providers"].remove(_find(data["providers"], name, "provider"))

    _said(_edit(practice, change), f"provider {name.strip()} removed")


# -- appointment types ---------------------------------------------------------------------


@type_app.command("list")
def type_list(practice: PracticeOption = None) -> None:
    """The appointment types and their length."""

    async def work(store: Store) -> PracticeSpec:
        await store.check()
        return await load_spec(store, practice)

    spec = with_store(work)
    for t in spec.appointment_types:
        who = [v.name for v in spec.providers if t.name in v.does]
        typer.echo(f"{t.name:<24} {t.minutes:>4} min  {', '.join(who) or 'no provider yet'}")
    typer.echo(f"{len(spec.appointment_types)} appointment type(s)")


@type_app.command("add")
def type_add(
    name: Annotated[str, typer.Argument(help="E.g. Cleaning.")],
    minutes: Annotated[int, typer.Option(help="How long it takes (5 to 480).")],
    practice: PracticeOption = None,
) -> None:
    """Add an appointment type (then `provider set NAME --does ...` for who does it)."""

    def change(data: dict[str, Any]) -> None:
        if any(t["name"].lower() == name.strip().lower() for t in data["appointment_types"]):
            raise fail(f"there is an appointment type {name!r} already", 2)
        data["appointment_types"].append({"name": name, "minutes": minutes})

    _said(_edit(practice, change), f"appointment type {name.strip()} added")


@type_app.command("set")
def type_set(
    name: Annotated[str, typer.Argument(help="The type's name now.")],
    minutes: Annotated[int | None, typer.Option(help="How long it takes (5 to 480).")] = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    practice: PracticeOption = None,
) -> None:
    """Change an appointment type (appointments already booked keep their times)."""

    def change(data: dict[str, Any]) -> None:
        t = _find(data["appointment_types"], name, "appointment type")
        if minutes is not None:
            t["minutes"] = minutes
        if rename is not None:
            for v in data["providers"]:
                v["does"] = [rename if d.lower() == t["name"].lower() else d for d in v["does"]]
            t["name"] = rename

    renamed = {name.strip(): rename.strip()} if rename else None
    _said(_edit(practice, change, renamed), f"appointment type {(rename or name).strip()} updated")


@type_app.command("remove")
def type_remove(
    name: Annotated[str, typer.Argument(help="The type's name.")],
    practice: PracticeOption = None,
) -> None:
    """Remove an appointment type no appointment uses."""

    def change(data: dict[str, Any]) -> None:
        t = _find(data["appointment_types"], name, "appointment type")
        data["appointment_types"].remove(t)
        for v in data["providers"]:
            v["does"] = [d for d in v["does"] if d.lower() != t["name"].lower()]

    _said(_edit(practice, change), f"appointment type {name.strip()} removed")
