"""One shared process pool for CPU-bound demo work, started once and reused.

A process has its own interpreter and its own GIL, so pure-Python work there
never makes the event loop wait. Workers are started with ``spawn`` (a fresh
interpreter), which is safe in a Jupyter kernel that already runs threads, and
one core is left free for the event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def default_workers() -> int:
    """All cores but one (at least one): the loop keeps a core to itself."""
    return max(1, (os.cpu_count() or 2) - 1)


def shared_process_pool() -> ProcessPoolExecutor:
    """The lab's process pool, created on first use and shut down at exit."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=default_workers(), mp_context=multiprocessing.get_context("spawn"))
            atexit.register(shutdown_shared_pool)
        return _pool


def shutdown_shared_pool() -> None:
    """Stop the shared pool's worker processes (a new pool starts on next use)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


async def warm_up(pool: ProcessPoolExecutor) -> None:
    """Start the pool's workers before measuring, so start-up time is not counted as work."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(loop.run_in_executor(pool, os.getpid) for _ in range(pool._max_workers)))
