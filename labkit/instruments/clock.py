"""A clock the explorer can pin, so actors that read "now" replay exactly.

While an explorer run is in progress, ``time.time()`` and ``time.time_ns()``
called from inside an actor (its task or its thread) go through here: with a
:class:`StepClock` they return the pinned time of the current step; without
one they return the real time and the run notes that it read it, so its trace
can say that a replay may differ. Calls from anywhere else get the real time.

What this cannot reach: a module that did ``from time import time`` before
the run, ``datetime.now()`` (a C type that cannot be patched) and Lua's
``redis.call('TIME')`` inside a script. The Redis ``TIME`` command sent by an
actor is answered from the clock too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

_real_time = time.time
_real_time_ns = time.time_ns
_lock = threading.Lock()
_installed = 0


@dataclass(frozen=True)
class StepClock:
    """Pinned time: ``start`` at the first step, plus ``per_step`` seconds for each step taken."""

    start: float = 1_700_000_000.0
    per_step: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.start, (int, float)) or not isinstance(self.per_step, (int, float)) \
                or self.per_step < 0:
            raise ValueError(f"StepClock needs a start time and a per_step >= 0 (seconds), got "
                             f"start={self.start!r}, per_step={self.per_step!r}")

    def at(self, step: int) -> float:
        return float(self.start) + self.per_step * step


def _reader() -> Optional[Callable[[], Optional[float]]]:
    from .stepping import current_hook

    hook = current_hook()
    return getattr(hook, "read_clock", None)


def _time() -> float:
    read = _reader()
    pinned = read() if read is not None else None
    return _real_time() if pinned is None else pinned


def _time_ns() -> int:
    read = _reader()
    pinned = read() if read is not None else None
    return _real_time_ns() if pinned is None else int(pinned * 1e9)


class intercept_time:
    """Context manager: route ``time.time``/``time_ns`` through the actors' clock while it is open."""

    def __enter__(self) -> "intercept_time":
        global _installed
        with _lock:
            if _installed == 0:
                time.time, time.time_ns = _time, _time_ns  # type: ignore[assignment]
            _installed += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        global _installed
        with _lock:
            _installed -= 1
            if _installed == 0:
                time.time, time.time_ns = _real_time, _real_time_ns  # type: ignore[assignment]
