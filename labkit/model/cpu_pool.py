"""One shared process pool for CPU-bound demo work, started once and reused.

A process has its own interpreter and its own GIL, so pure-Python work there
never makes the event loop wait. Workers are started with ``spawn`` (a fresh
interpreter), which is safe in a Jupyter kernel that already runs threads, and
one core is left free for the event loop. Each worker exits when the process
that started it dies, even by kill -9: a kernel that is killed or restarted
leaves no pool worker behind.
"""

from __future__ import annotations

import asyncio
import atexit
import multiprocessing
import multiprocessing.connection
import os
import threading
from concurrent.futures import ProcessPoolExecutor

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def default_workers() -> int:
    """All cores but one (at least one): the loop keeps a core to itself."""
    return max(1, (os.cpu_count() or 2) - 1)


def _exit_with_parent() -> None:
    """Pool initializer: end this worker when its parent goes.

    A pool shuts its workers down at exit, but a parent killed by a signal never
    runs that, and an idle worker would wait for work for ever.
    """
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the parent is gone
        os._exit(0)

    threading.Thread(target=watch, name="labkit-exit-with-parent", daemon=True).start()


def shared_process_pool() -> ProcessPoolExecutor:
    """The lab's process pool, created on first use and shut down at exit."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(max_workers=default_workers(), mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_exit_with_parent)
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
