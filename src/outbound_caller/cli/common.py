"""What every ``outbound-caller`` sub-command shares: one way to fail."""

from __future__ import annotations

import typer


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise (1: failed, 2: bad usage)."""
    typer.echo(f"outbound-caller: {message}", err=True)
    return typer.Exit(code)
