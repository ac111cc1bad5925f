"""What counts as a person's name here: it is spoken on calls, put into the agent's
instructions and shown (one day exported) in lists, so only plausible names are taken."""

from __future__ import annotations

import unicodedata

MAX_CHARS = 80
MAX_WORDS = 7
PUNCTUATION = set(".'-’,")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a plausible person's name, or None when it is. Letters of any
    script, spaces and . ' - , only, starting with a letter: no line breaks, digits or
    spreadsheet formulas (``=``, ``+``, ``@``, ``-`` first), at most 80 characters and
    7 words."""
    if not name:
        return "name is empty"
    if len(name) > MAX_CHARS:
        return f"name is longer than {MAX_CHARS} characters"
    if not unicodedata.category(name[0]).startswith("L"):
        return "name must start with a letter"
    for char in name:
        kind = unicodedata.category(char)
        if not (kind[0] in "LM" or char == " " or char in PUNCTUATION):
            return "name may only hold letters, spaces and . ' - ,"
    if len(name.split()) > MAX_WORDS:
        return f"name has more than {MAX_WORDS} words"
    return None
