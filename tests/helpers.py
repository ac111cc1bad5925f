"""Small helpers shared by the tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from pathlib import Path


async def eventually(condition: Callable[[], bool], *, within: float = 30.0) -> None:
    """Wait until ``condition()`` holds; fail the test with a clear message if it never does."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"condition still false after {within}s")
        await asyncio.sleep(0.01)


def run_bare(args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command the way a user on a fresh machine would: no project settings in the
    environment, in an empty working directory."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
