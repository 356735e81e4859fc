"""The shared process pool leaves no worker behind, even when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

# Warm the pool, print its workers' pids, then wait to be killed.
_PARENT = """
import asyncio, time
from labkit.model.cpu_pool import shared_process_pool, warm_up
pool = shared_process_pool()
asyncio.run(warm_up(pool))
print(*pool._processes, flush=True)
time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # an exited child of a dead parent is reaped by init; a zombie still answers kill(0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_pool_workers_exit_when_their_parent_is_killed(sig: signal.Signals) -> None:
    # stderr is a pipe so the killed parent's resource tracker (it reports the pool's semaphores) stays quiet
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers, "the pool started no worker"
        assert all(_alive(w) for w in workers)
        parent.send_signal(sig)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(w) for w in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        survivors = [w for w in workers if _alive(w)]
        assert survivors == [], f"pool worker(s) {survivors} outlived their parent killed by {sig.name}"
        parent.communicate(timeout=10)  # returns once no process (worker or tracker) holds its output open
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
        parent.stderr.close()
        for w in workers:
            if _alive(w):
                os.kill(w, signal.SIGKILL)
