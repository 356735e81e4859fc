"""The shared process pool leaves no worker behind, even when its parent is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from worker_procs import pid_alive, wait_gone

# Warm the pool, print its workers' pids, then wait to be killed.
_PARENT = """
import asyncio, time
from labkit.model.cpu_pool import shared_process_pool, warm_up
pool = shared_process_pool()
asyncio.run(warm_up(pool))
print(*pool._processes, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_pool_workers_exit_when_their_parent_is_killed(sig: signal.Signals) -> None:
    # stderr is a pipe so the killed parent's resource tracker (it reports the pool's semaphores) stays quiet
    parent = subprocess.Popen([sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    workers: list[int] = []
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers, "the pool started no worker"
        assert all(pid_alive(w) for w in workers)
        parent.send_signal(sig)
        parent.wait(10)
        survivors = [w for w in workers if not wait_gone(w, 10)]
        assert survivors == [], f"pool worker(s) {survivors} outlived their parent killed by {sig.name}"
        parent.communicate(timeout=10)  # returns once no process (worker or tracker) holds its output open
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
        parent.stderr.close()
        for w in workers:
            if pid_alive(w):
                os.kill(w, signal.SIGKILL)
