"""Prompt templates, kept as text files beside this module."""

from __future__ import annotations

from importlib.resources import files
from string import Template


def render(name: str, **values: str) -> str:
    """Fill ``name``.md; a missing placeholder value is an error, not a silent gap."""
    text = files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Template(text).substitute(values).strip()
