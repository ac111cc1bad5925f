"""Preloaded by the worker into the forkserver that starts its job processes (Linux).

A service manager stops a worker by sending SIGTERM to every process it started (systemd's
default ``KillMode=control-group``; ``kill -TERM -<pgid>`` from a shell), not only to the
worker. The framework ignores SIGTERM in its job processes so that calls in progress are
drained, but not in Python's forkserver: it died at once, and every idle job process it had
started was then reported as "process exited with non-zero exit code 255", an ERROR on a
clean shutdown. The forkserver has nothing to drain; it exits by itself when the worker does
(its end of the worker's pipe closes), and SIGKILL still ends it.

Importing this module anywhere else does nothing.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

FORKSERVER_MAIN = ("multiprocessing", "forkserver.py")


def _imported_by_forkserver(frame: FrameType | None) -> bool:
    """Whether ``multiprocessing.forkserver.main`` is on the stack that imports us."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "main" and code.co_filename.endswith("/".join(FORKSERVER_MAIN)):
            return True
        frame = frame.f_back
    return False


def survive_group_sigterm(frame: FrameType | None) -> bool:
    """Ignore SIGTERM when running as the forkserver; returns whether it did."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if not _imported_by_forkserver(frame):
        return False
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return True


survive_group_sigterm(sys._getframe())
