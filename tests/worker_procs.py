"""Test helpers: worker processes this test process started that still run; whether a pid has exited."""

from __future__ import annotations

import os
import time
from pathlib import Path


def _processes() -> list[tuple[int, int, str, bytes]]:
    """(pid, parent pid, state, command line) of every process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        found.append((int(entry.name), int(fields[1]), fields[0], cmdline))
    return found


def live_worker_children() -> list[int]:
    """Pids of running worker processes this process started (zombies excluded).

    Workers are forked by the lab's fork server, a child of this process that
    stays up between tests; the workers are its children.
    """
    me, table = os.getpid(), _processes()
    servers = {pid for pid, ppid, _, cmd in table if ppid == me and b"multiprocessing.forkserver" in cmd}
    return [pid for pid, ppid, state, cmd in table
            if state != "Z" and (ppid in servers or (ppid == me and pid not in servers and b"labkit.tasks.worker" in cmd))]


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has exited; it only waits for its parent to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    if status.exists():
        return status.read_text().split(") ", 1)[1][0] != "Z"
    return True


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    """Wait up to ``timeout`` seconds for ``pid`` to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False
