from __future__ import annotations

from pathlib import Path

import pytest

from console_world import db_url, seed


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store with the demo practice (seeded on the console clock's first day) and two users:
    ann (admin) and sam (staff)."""
    url = db_url(tmp_path)
    seed(url)
    return url
