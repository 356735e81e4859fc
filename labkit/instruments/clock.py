"""A clock the explorer can pin, so actors that read "now" replay exactly.

While an explorer call is in progress, every read of the wall clock in the
process goes through here: ``time.time()``, ``time.time_ns()``,
``datetime.now()``, ``datetime.utcnow()``, ``date.today()``, ``time.gmtime()``,
``time.localtime()`` and ``time.strftime()`` with no time given - also through
a ``from time import time`` or ``from datetime import datetime`` made long
before. `time-machine <https://pypi.org/project/time-machine/>`_ does that by
redirecting those C functions; it asks :class:`_ActorClock` what time it is.
A read from inside an actor (its task or its thread) gets, with a
:class:`StepClock`, the pinned time of the current step; without one it gets
the real time and its run notes that it read it, so the trace can say that a
replay may differ. Reads from anywhere else get the real time.

The Redis ``TIME`` command an actor sends is answered from the clock too.
What no client-side clock can reach: ``redis.call('TIME')`` inside a Lua
script, which reads the server's clock (a trace names such a script, see
:mod:`labkit.instruments.script_watch`), and the monotonic clocks
(``time.monotonic()``, ``perf_counter()``), left alone because event loops and
timeouts need them to move forward.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable, Optional

import time_machine

_lock = threading.Lock()
_installed = 0
_travel: Optional[time_machine.travel] = None


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


class _ActorClock(time_machine.Traveller):
    """The time-machine traveller whose "now" is the reading actor's step clock, or the real time."""

    def __init__(self) -> None:
        super().__init__(0, None, False)

    def time_ns(self) -> int:
        read = _reader()
        pinned = read() if read is not None else None
        if pinned is None:
            return int(time_machine.escape_hatch.time.time_ns())
        return int(round(pinned * 1e9))


class intercept_time:
    """Context manager: route every wall-clock read through the actors' clock while it is open."""

    def __enter__(self) -> "intercept_time":
        global _installed, _travel
        with _lock:
            if _installed == 0:
                _travel = time_machine.travel(0, tick=False)
                _travel.start()
                time_machine.traveller_stack[-1] = _ActorClock()
            _installed += 1
        return self

    def __exit__(self, *exc: Any) -> None:
        global _installed, _travel
        with _lock:
            _installed -= 1
            if _installed == 0 and _travel is not None:
                _travel.stop()
                _travel = None
