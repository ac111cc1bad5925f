"""The forkserver that starts job processes survives a SIGTERM sent to the whole group."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import outbound_caller.forkserver as forkserver
from outbound_caller.worker import server

# A forkserver preloading ``modules``, one idle child, SIGTERM to the forkserver (as a
# service manager sends it to every process of the worker), then the child is killed the way
# the framework kills an idle process: its exit code is what the framework then logs.
SCRIPT = textwrap.dedent(
    """
    import multiprocessing, multiprocessing.forkserver as fs, os, signal, sys, time
    if __name__ == "__main__":
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(sys.argv[1:])
        child = ctx.Process(target=time.sleep, args=(60,))
        child.start()  # served after the preload: the forkserver's SIGTERM handling is set
        pid = fs._forkserver._forkserver_pid
        os.kill(pid, signal.SIGTERM)
        with open(f"/proc/{pid}/status") as status:
            masks = dict(line.split(":", 1) for line in status)
        if int(masks["SigIgn"], 16) & (1 << (signal.SIGTERM - 1)):
            # ignored: the signal was dropped as it was sent; the forkserver still serves
            probe = ctx.Process(target=time.sleep, args=(0,))
            probe.start()
            probe.join()
        else:
            # not ignored: it dies; wait until it has (a zombie), before the child is killed
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with open(f"/proc/{pid}/stat") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
                time.sleep(0.01)
        # by pid: Process.kill() sends nothing once a poll has read the dead forkserver's
        # EOF as the child's end, and the child would then hold this script's output open
        os.kill(child.pid, signal.SIGKILL)
        child.join()
        print(child.exitcode)
    """
)


def idle_child_exit_code(*modules: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *modules],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(done.stdout.strip())


def test_a_killed_idle_process_reports_its_signal_not_a_dead_forkserver() -> None:
    # without the module the forkserver dies and the child's exit code reads 255
    assert idle_child_exit_code() == 255
    assert idle_child_exit_code("outbound_caller.forkserver") == -signal.SIGKILL


def test_the_worker_preloads_it() -> None:
    assert "outbound_caller.forkserver" in server._preload_modules


def test_imported_anywhere_else_it_changes_nothing() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert forkserver.survive_group_sigterm(sys._getframe()) is False
    assert signal.getsignal(signal.SIGTERM) is before
