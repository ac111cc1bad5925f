"""``outbound-caller webhooks list``: the events queued for the practice's webhook and how
their delivery went (delivered, waiting for a retry, or given up on)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..store import schema as db
from ..store.appointments import Store
from ..store.outbox import recent
from .common import with_store

webhooks_app = typer.Typer(
    rich_markup_mode=None,
    help="Post-call webhook events (WEBHOOK_URL) and their delivery.",
    no_args_is_help=True,
)


def state_of(event: db.WebhookEvent) -> str:
    if event.delivered_at is not None:
        return "delivered"
    if event.given_up_at is not None:
        return "given up"
    return "retrying" if event.attempts else "queued"


@webhooks_app.command("list")
def list_cmd(
    limit: Annotated[int, typer.Option(min=1, help="How many of the latest events.")] = 50,
) -> None:
    """The latest events, newest first (times in UTC)."""

    async def work(store: Store) -> list[Any]:
        await store.check()
        return await recent(store, limit=limit)

    events = with_store(work)
    for e in events:
        when = e.delivered_at or e.given_up_at or e.next_at
        at = f"{'at' if e.delivered_at or e.given_up_at else 'next'} {when:%Y-%m-%d %H:%M:%S}"
        line = f"{e.event_id}  {e.kind}  call {e.call_id}  {state_of(e):<9}  "
        line += f"{e.attempts} attempt(s)  {at}"
        if e.last_error and e.delivered_at is None:
            line += f"  last: {e.last_error}"
        typer.echo(line)
    typer.echo(f"{len(events)} event(s)")
