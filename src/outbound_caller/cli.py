"""The operator command line: ``outbound-caller <command>``. It only parses and prints."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer

app = typer.Typer(
    help="Operator commands for the outbound-caller phone agent.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Operator commands for the outbound-caller phone agent."""


@app.command()
def demo(
    live_llm: Annotated[
        bool,
        typer.Option("--live-llm", help="Use the real OpenAI model (needs OPENAI_API_KEY)."),
    ] = False,
) -> None:
    """Play one complete appointment call offline, turn by turn."""
    from .demo import run_demo

    model = None
    if live_llm:
        key = os.environ.get("OPENAI_API_KEY", "").strip()
        if not key:
            typer.echo("outbound-caller: --live-llm needs OPENAI_API_KEY to be set", err=True)
            raise typer.Exit(2)
        from livekit.plugins import openai

        model = openai.LLM(model=os.environ.get("LLM_MODEL") or "gpt-4o", api_key=key)
    asyncio.run(run_demo(model=model, out=typer.echo))


def main() -> None:
    app()
