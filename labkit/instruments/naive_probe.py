"""The naive lag probe most lag monitors use, kept only to show what it misses.

It sleeps for one interval, measures how late it woke, and records that one
sample; it then sleeps again. A 900 ms stall therefore becomes *one* late
sample among hundreds of on-time ones, so its percentiles look healthy and the
time it thinks the loop was stuck (late samples x interval) is one interval.
Compare with :class:`labkit.instruments.loop_monitor.LoopMonitor`, which counts every tick
the stall swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from types import TracebackType

from .loop_monitor import DEFAULT_INTERVAL, DEFAULT_STALL_THRESHOLD, percentile


@dataclass(frozen=True)
class NaiveResult:
    """The naive probe's view: one sample per wake-up, no correction."""

    interval: float
    stall_threshold: float
    lags: tuple[float, ...]

    @property
    def p99_ms(self) -> float:
        return percentile(sorted(self.lags), 99) * 1000

    @property
    def late_samples(self) -> int:
        return sum(1 for lag in self.lags if lag >= self.stall_threshold)

    @property
    def stalled_s(self) -> float:
        """Time stalled as a sampling probe reports it: late samples x interval."""
        return self.late_samples * self.interval


class NaiveLagProbe:
    """``async with NaiveLagProbe() as probe:`` then ``probe.result()``."""

    def __init__(self, interval: float = DEFAULT_INTERVAL, stall_threshold: float = DEFAULT_STALL_THRESHOLD) -> None:
        if not (isinstance(interval, (int, float)) and interval > 0):
            raise ValueError(f"interval must be a positive number of seconds, got {interval!r}")
        self.interval = float(interval)
        self.stall_threshold = float(stall_threshold)
        self._lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(self.interval)
            self._lags.append(max(0.0, loop.time() - before - self.interval))

    async def __aenter__(self) -> NaiveLagProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def result(self) -> NaiveResult:
        return NaiveResult(self.interval, self.stall_threshold, tuple(self._lags))
