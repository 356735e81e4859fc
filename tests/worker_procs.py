"""Test helper: find worker processes this test process started that are still running."""

from __future__ import annotations

import os
from pathlib import Path


def live_worker_children() -> list[int]:
    """Pids of running ``labkit.tasks.worker`` processes whose parent is this process (zombies excluded)."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state != "Z" and b"labkit.tasks.worker" in cmdline:
            found.append(int(entry.name))
    return found
