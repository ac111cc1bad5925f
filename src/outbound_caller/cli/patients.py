"""``outbound-caller patients list | show``: who is on file, and one patient's appointments
and calls."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from ..phone import mask
from ..store.appointments import Store
from ..store.calls import list_calls
from ..store.patients import find_patients, patient_record
from .common import with_store

patients_app = typer.Typer(
    rich_markup_mode=None, help="The practice's patients.", no_args_is_help=True
)


@patients_app.command("list")
def patients_list(
    search: Annotated[
        str | None, typer.Option(help="Only names or phone numbers containing this.")
    ] = None,
) -> None:
    """Patients by name, phones masked."""

    async def work(store: Store) -> Any:
        await store.check()
        return await find_patients(store, search)

    rows = with_store(work)
    typer.echo(f"{'id':>6}  {'name':<28}  {'phone':<8}  {'time zone':<20}  appointments")
    for r in rows:
        typer.echo(
            f"{r.id:>6}  {r.name:<28}  {mask(r.phone):<8}  {r.timezone:<20}  {r.appointments}"
        )
    typer.echo(f"{len(rows)} {'patient' if len(rows) == 1 else 'patients'}")


@patients_app.command("show")
def patients_show(
    patient: Annotated[str, typer.Argument(help="The patient's id, or their phone number.")],
) -> None:
    """One patient: details, every appointment, and the calls to their number."""

    async def work(store: Store) -> Any:
        await store.check()
        found, appointments = await patient_record(store, patient)
        calls = await list_calls(store, phone=found.phone)
        zones = {a.practice_id: (await store.practice(a.practice_id)).zone for a in appointments}
        return found, appointments, calls, zones

    found, appointments, calls, zones = with_store(work)
    zone = ZoneInfo(found.timezone)
    typer.echo(f"patient {found.id}: {found.name}")
    typer.echo(f"  phone          {found.phone}")
    typer.echo(f"  time zone      {found.timezone}")
    born = found.date_of_birth.isoformat() if found.date_of_birth else "not on file"
    typer.echo(f"  date of birth  {born}")
    typer.echo(f"appointments ({len(appointments)}):")
    for a in appointments:
        local = a.start.astimezone(zones[a.practice_id])
        typer.echo(
            f"  {a.id:>6}  {local:%a %Y-%m-%d %H:%M %Z}  {a.provider_name}  {a.type_name}  "
            f"{a.status}"
        )
    typer.echo(f"calls ({len(calls)}):")
    for c in calls:
        typer.echo(
            f"  {c.placed_at.astimezone(zone):%a %Y-%m-%d %H:%M %Z}  {c.status}"
            + (f"  {c.changes}" if c.changes else "")
        )
