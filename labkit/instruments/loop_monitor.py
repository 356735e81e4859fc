"""The event-loop monitor: how late the loop runs its callbacks, and who held it up.

Use it as an async context manager around any async code::

    async with LoopMonitor() as mon:
        await handle_requests()
    report = mon.result()
    report.p99_ms, report.stall_count, report.stalls[0].where

A tick callback is scheduled every ``interval`` seconds (10 ms by default).
When it runs late, the delay is the *lag*: the time every other callback,
heartbeat and widget message on that loop waited too. While the loop runs
nothing but ticks and each one is on time, it ticks every fifth slot instead
(a sleeping loop has nothing to measure, and waking it is what the monitor
costs); the first late tick or busy pass brings back the full rate.

Honest under stalls: a single late tick stands for every tick the stall
swallowed. A 900 ms stall at a 10 ms tick is recorded as ~90 samples with lags
900, 890, ... 10 ms (HdrHistogram's expected-interval correction), so the
percentiles and the time stalled describe the whole run, not one sample.

Stalls are timed exactly: on asyncio's selector loops the monitor notes when
each pass of the loop leaves ``select()`` and when it comes back to it. The time
in between is the loop running callbacks; a pass of ``stall_threshold`` (20 ms)
or more is a stall, with its true start and length, not rounded to a tick. A
late tick that no long pass explains (the loop ready but waiting for the GIL or
the CPU) is a stall too, from 50 ms; one that begins while the loop sleeps is
counted from the tick that was due, so up to one quiet stride (40 ms) short.
Loops without a selector (uvloop, Windows' proactor) fall back to timing stalls
by the late tick alone, which loses up to one tick.

Attribution: a watchdog thread looks at the loop every few milliseconds while
it works (and sleeps while it runs nothing but the monitor's ticks, since
waking a thread costs about as much as the tick itself); when a
pass has run for a tenth of the threshold it copies the loop thread's stack
(``sys._current_frames``), so every stall is reported with the function, file
and line that held the loop, skipping asyncio and other library frames so your
own code comes first.
"""

from __future__ import annotations

import asyncio
import linecache
import math
import os
import sys
import sysconfig
import threading
import time
import weakref
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType, TracebackType
from typing import Any, Callable, Sequence

_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # labkit/

DEFAULT_INTERVAL = 0.010
DEFAULT_STALL_THRESHOLD = 0.020
#: A late tick with no long pass behind it (the loop ready, but another thread held the
#: GIL or the machine gave it no CPU) is a stall from this lag on: a busy machine delays
#: a ready loop by a few tens of milliseconds now and then, which is nobody's code.
WAITING_THRESHOLD = 0.050
#: The watchdog sleeps once the loop has run nothing but ticks for this long.
QUIET_BEFORE_SLEEP = 0.1
#: A loop that has run nothing but ticks for QUIET_BEFORE_SLEEP, each on time (within
#: ON_TIME_LAG), is ticked only every QUIET_STRIDE-th slot: waking an idle loop is most of
#: the monitor's cost. The slots in between get the lag of the tick that stands for them.
QUIET_STRIDE = 5
ON_TIME_LAG = 0.002

__all__ = ["LoopMonitor", "MonitorResult", "Stall", "StackFrame", "percentile"]


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class StackFrame:
    """One frame of a captured stack (no live frame object is kept)."""

    function: str
    filename: str
    lineno: int
    line: str

    @property
    def short_file(self) -> str:
        """A readable file name: ``<cell>`` for a notebook cell, else the last two parts."""
        if "ipykernel_" in self.filename or self.filename.startswith("<"):
            return "<cell>"
        real = os.path.realpath(self.filename)
        if real.startswith(_PACKAGE + os.sep):  # the lab's own code: labkit/model/llm.py
            return os.path.relpath(real, os.path.dirname(_PACKAGE)).replace("\\", "/")
        parts = self.filename.replace("\\", "/").split("/")
        return "/".join(parts[-2:])

    def __str__(self) -> str:
        text = f"{self.function} ({self.short_file}:{self.lineno})"
        return f"{text}: {self.line}" if self.line else text


def _library_roots() -> tuple[str, ...]:
    """Directories whose code is 'not yours': the standard library."""
    roots = set()
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    return tuple(sorted(roots))


_LIBRARY_ROOTS = _library_roots()
# labkit's own plumbing that sits *around* user code; other labkit modules
# (the stand-in LLM, the toy service) are what a learner calls, so they stay.
_PLUMBING = {os.path.join(_PACKAGE, *name.split("/")) for name in (
    "instruments/loop_monitor.py", "instruments/naive_probe.py", "exercises/framework.py")}
_CHECKERS = os.path.join(_PACKAGE, "exercises") + os.sep  # exercise checkers call learner code; they are not it
_internal_cache: dict[str, bool] = {}


def is_internal(filename: str) -> bool:
    """True for frames that are never 'the code that blocked': stdlib, installed packages, monitor plumbing."""
    cached = _internal_cache.get(filename)
    if cached is not None:
        return cached
    real = os.path.realpath(filename) if not filename.startswith("<") else filename
    internal = (
        filename.startswith("<frozen")
        or "site-packages" in real
        or "dist-packages" in real
        or real in _PLUMBING
        or real.startswith(_CHECKERS)
        or any(real.startswith(root + os.sep) for root in _LIBRARY_ROOTS)
    )
    _internal_cache[filename] = internal
    return internal


def capture_stack(frame: FrameType | None, limit: int = 60) -> tuple[StackFrame, ...]:
    """Copy a live stack into plain records, innermost frame first."""
    frames: list[StackFrame] = []
    while frame is not None and len(frames) < limit:
        code = frame.f_code
        name = getattr(code, "co_qualname", code.co_name)
        lineno = frame.f_lineno or 0
        line = linecache.getline(code.co_filename, lineno).strip()
        frames.append(StackFrame(name, code.co_filename, lineno, line))
        frame = frame.f_back
    return tuple(frames)


def user_frames(stack: Sequence[StackFrame]) -> tuple[StackFrame, ...]:
    """The frames of ``stack`` that are user code, innermost first."""
    return tuple(f for f in stack if not is_internal(f.filename))


WAITING = StackFrame("(waiting for the GIL: another thread held it)", "<event loop>", 0, "")


def running_frames(stack: Sequence[StackFrame]) -> tuple[StackFrame, ...]:
    """What the loop was running when it was stuck: user frames first, library frames if no user ones.

    Frames outside the loop's ``_run_once`` (``asyncio.run``, the notebook
    kernel, your ``main``) are not what holds the loop, so they are dropped.
    A loop stuck with nothing running inside ``_run_once`` is ready but cannot
    get the GIL: that is reported as :data:`WAITING`.
    """
    inner = list(stack)
    for i, frame in enumerate(stack):
        if frame.function.endswith("_run_once") and is_internal(frame.filename):
            inner = list(stack[:i])
            break
    # The loop's own dispatch (Handle._run, Task.__step, select) is not a culprit.
    body = [f for f in inner if not (is_internal(f.filename) and _is_loop_machinery(f))]
    if not body:
        return (WAITING,)
    return user_frames(body) or tuple(body[:5])


def _is_loop_machinery(frame: StackFrame) -> bool:
    name = frame.filename.replace("\\", "/")
    return "/asyncio/" in name or name.endswith("/selectors.py")


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Stall:
    """One stretch of time in which the loop ran nothing else."""

    start_s: float  # when the loop stopped answering, seconds since the monitor started
    duration_s: float  # how long the late tick waited
    stack: tuple[StackFrame, ...] = ()  # user frames, innermost first ("" if the watchdog saw nothing)
    samples: int = 0  # how many times the watchdog saw the loop stuck in this stall

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def culprit(self) -> StackFrame | None:
        """The innermost user frame: the call that held the loop."""
        return self.stack[0] if self.stack else None

    @property
    def function(self) -> str | None:
        return self.culprit.function if self.culprit else None

    @property
    def where(self) -> str:
        """``chat (labkit/llm.py:88) <- handle (<cell>:4)``: the blocking call and who called it."""
        if not self.stack:
            return "(not attributed: the stall was shorter than the watchdog could see)"
        return " <- ".join(f"{f.function} ({f.short_file}:{f.lineno})" for f in self.stack[:4])

    def __str__(self) -> str:
        return f"{self.duration_s * 1000:.0f} ms stall at t={self.start_s:.2f} s in {self.where}"


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for no values)."""
    if not sorted_values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be between 0 and 100, got {q!r}")
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def corrected_lags(lags: Sequence[float], interval: float) -> list[float]:
    """Every tick each late tick swallowed: lag L at interval i gives L, L-i, L-2i, ... while >= i."""
    out: list[float] = []
    for lag in lags:
        out.append(lag)
        missing = lag - interval
        while missing >= interval:
            out.append(missing)
            missing -= interval
    return out


@dataclass
class MonitorResult:
    """What the monitor measured: numbers first, ``.plot()`` for a picture."""

    interval: float
    stall_threshold: float
    duration_s: float
    tick_times: list[float]  # when each tick ran (or, for a slot a quiet stride skipped, would have), seconds since start
    tick_lags: list[float]  # how late it ran, seconds
    stalls: list[Stall]
    _sorted: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self._sorted = sorted(corrected_lags(self.tick_lags, self.interval))

    # --- distribution (every expected tick, stalls included)
    @property
    def samples(self) -> list[float]:
        """Corrected lag samples in seconds, sorted (one per expected tick)."""
        return list(self._sorted)

    def percentile_ms(self, q: float) -> float:
        return percentile(self._sorted, q) * 1000

    @property
    def p50_ms(self) -> float:
        return self.percentile_ms(50)

    @property
    def p90_ms(self) -> float:
        return self.percentile_ms(90)

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return self._sorted[-1] * 1000 if self._sorted else 0.0

    # --- stalls
    @property
    def stall_count(self) -> int:
        return len(self.stalls)

    @property
    def stalled_s(self) -> float:
        """Total time the loop was stuck in stalls longer than the threshold."""
        return sum(s.duration_s for s in self.stalls)

    @property
    def ticks(self) -> int:
        return len(self.tick_lags)

    def summary(self) -> dict[str, Any]:
        """The headline figures as a plain dict (ms for lags, s for durations)."""
        return {
            "duration_s": round(self.duration_s, 3),
            "ticks": self.ticks,
            "samples": len(self._sorted),
            "p50_ms": round(self.p50_ms, 2),
            "p90_ms": round(self.p90_ms, 2),
            "p99_ms": round(self.p99_ms, 2),
            "max_ms": round(self.max_ms, 2),
            "stall_count": self.stall_count,
            "stalled_s": round(self.stalled_s, 3),
        }

    @property
    def point(self) -> str:
        """What the timeline shows, in one line."""
        if not self.stalls:
            return f"No stall: every tick ran within {self.max_ms:.1f} ms of its time (p99 {self.p99_ms:.1f} ms)."
        swallowed = len(self._sorted) - self.ticks
        return (f"{self.stall_count} stall(s) held the loop for {self.stalled_s * 1000:.0f} ms and swallowed "
                f"{swallowed} ticks, each counted with the lag it would have had: p99 {self.p99_ms:.0f} ms.")

    def __str__(self) -> str:
        s = self.summary()
        head = (
            f"{s['duration_s']:.2f} s monitored: lag p50 {s['p50_ms']:.1f} ms, p90 {s['p90_ms']:.1f} ms, "
            f"p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms; "
            f"{s['stall_count']} stall(s), {s['stalled_s']:.3f} s stalled"
        )
        return "\n".join([head] + [f"  - {stall}" for stall in self.stalls[:10]])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def plot(self, ax: Any = None) -> Any:
        """Lag over time with stalls as tall bars; returns the matplotlib Figure."""
        from ..figures.stall import plot_monitor
        from ..figures.style import stating

        return stating(plot_monitor(self, ax=ax), self.point)



# --------------------------------------------------------------------------- the pass clock

PassListener = Callable[[int, float, float], None]


class PassClock:
    """Times each pass of a selector event loop: from ``select()`` returning to the next call.

    Installed on the loop's selector instance (its ``select`` attribute), shared
    by every monitor on that loop, and removed when the last one leaves. Costs two
    clock reads per pass. ``state`` is ``(pass number, when it began, busy)``, with
    0.0 for "idle in select", swapped as one tuple so a watchdog reads it whole.

    A pass is *busy* unless it only runs a monitor's own tick. ``busy_began`` is
    set when a busy pass begins, so a watchdog can sleep while the loop only ticks:
    polling a quiet loop every few milliseconds would cost more than the tick itself.
    """

    _clocks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PassClock]" = weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop, selector: Any) -> None:
        self._selector = selector
        self._original = selector.select
        self._scheduled: list[Any] | None = getattr(loop, "_scheduled", None)  # the loop's timer heap, if readable
        self._listeners: list[PassListener] = []
        self.state: tuple[int, float, bool] = (0, time.monotonic(), False)
        self.last_busy = time.monotonic()  # when the latest busy pass began
        self.busy_began = threading.Event()
        self.on_busy: list[Callable[[], None]] = []  # called once, on the loop, when the next busy pass begins
        self._hook = self._select
        selector.select = self._hook

    @classmethod
    def attach(cls, loop: asyncio.AbstractEventLoop, listener: PassListener) -> PassClock | None:
        """The loop's clock with ``listener`` added, or None for a loop without a selector."""
        clock = cls._clocks.get(loop)
        if clock is None:
            selector = getattr(loop, "_selector", None)
            if selector is None or not callable(getattr(selector, "select", None)):
                return None
            clock = cls._clocks[loop] = cls(loop, selector)
        clock._listeners.append(listener)
        return clock

    def detach(self, listener: PassListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)
        if not self._listeners and self._selector.__dict__.get("select") is self._hook:
            del self._selector.select  # back to the class's own method
            for loop, clock in list(self._clocks.items()):
                if clock is self:
                    del self._clocks[loop]

    def _select(self, timeout: float | None = None) -> Any:
        now = time.monotonic()
        seq, began, _ = self.state
        self.state = (seq + 1, 0.0, False)
        for listener in self._listeners:
            listener(seq, began, now)
        events: Any = ()
        try:
            events = self._original(timeout)
            return events
        finally:
            busy = bool(events) or not timeout or not self._only_ticks_due()
            began = time.monotonic()
            self.state = (seq + 1, began, busy)
            if busy:
                self.last_busy = began
                if not self.busy_began.is_set():
                    self.busy_began.set()
                if self.on_busy:
                    calls, self.on_busy = self.on_busy, []
                    for call in calls:
                        call()

    def _only_ticks_due(self) -> bool:
        """True when select timed out for a monitor's tick and no other timer is due with it."""
        heap = self._scheduled
        if not heap or not _is_tick(heap[0]):
            return False
        soon = heap[0]._when + 0.001
        return all(handle._when > soon or _is_tick(handle) for handle in heap[1:3])  # the heap's next two


def _is_tick(handle: Any) -> bool:
    return getattr(getattr(handle, "_callback", None), "__func__", None) is LoopMonitor._tick

# --------------------------------------------------------------------------- the monitor


def _positive_seconds(name: str, value: object, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__} {value!r}; {hint}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}; {hint}")
    return float(value)


class LoopMonitor:
    """Async context manager that measures the running loop's tick lag and attributes stalls.

    ``interval``: how often to tick (seconds). ``stall_threshold``: a pass of the
    loop this long (or a tick this late) is a stall, and the watchdog captures the loop's stack.
    ``watchdog=False`` skips attribution (a bit cheaper).
    """

    def __init__(
        self,
        interval: float = DEFAULT_INTERVAL,
        stall_threshold: float = DEFAULT_STALL_THRESHOLD,
        *,
        watchdog: bool = True,
    ) -> None:
        self.interval = _positive_seconds("interval", interval, "the default 0.01 (10 ms) suits most uses")
        self.stall_threshold = _positive_seconds(
            "stall_threshold", stall_threshold, "use something like 0.02 (20 ms), a couple of ticks long"
        )
        if self.stall_threshold < self.interval:
            raise ValueError(
                f"stall_threshold ({stall_threshold}) must be at least the tick interval ({interval}): "
                "a stall is a tick that is late by more than a whole tick"
            )
        self.watchdog = bool(watchdog)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._t_end: float | None = None
        self._times: list[float] = []
        self._lags: list[float] = []
        self._stalls: list[Stall] = []
        # (ticks so far, due time of the next tick): swapped as one tuple so the watchdog reads it whole
        self._state: tuple[int, float] = (0, 0.0)
        self._stride = 1  # how many tick slots the pending tick stands for
        self._quiet_lag = 0.0  # the lag of the tick that began the quiet stride: its skipped slots get it
        self._on_time = 0  # consecutive ticks within ON_TIME_LAG
        self._wakes = 0  # ticks that ran (slots filled in between are not counted)
        self._captures: dict[int, list[tuple[StackFrame, ...]]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop_ident = 0
        self._clock: PassClock | None = None
        self._looks = 0  # how often the watchdog looked at the loop, and how often it slept instead
        self._sleeps = 0

    # --- lifecycle
    async def __aenter__(self) -> LoopMonitor:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start ticking on the running loop (call from a coroutine on that loop)."""
        if self._loop is not None:
            raise RuntimeError("this LoopMonitor was already started; make a new one for each run")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "LoopMonitor needs a running event loop: use `async with LoopMonitor():` inside async code "
                "(in a notebook cell, top-level `async with` works)"
            ) from None
        self._loop = loop
        self._loop_ident = threading.get_ident()
        self._t0 = loop.time()
        due = self._t0 + self.interval
        self._state = (0, due)
        self._handle = loop.call_at(due, self._tick)
        self._clock = PassClock.attach(loop, self._on_pass)
        if self.watchdog:
            self._thread = threading.Thread(target=self._watch, name="labkit-loop-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking and join the watchdog; the result stays available."""
        if self._t_end is not None or self._loop is None:
            return
        self._t_end = self._loop.time()
        if self._handle is not None:
            self._handle.cancel()
        if self._clock is not None:
            self._clock.detach(self._on_pass)
            if self._end_stride in self._clock.on_busy:
                self._clock.on_busy.remove(self._end_stride)
            seq, began, _ = self._clock.state
            if began:  # stopped inside a pass: a block right before exit is a stall too
                self._on_pass(seq, began, time.monotonic())
        if self._t_end >= self._state[1]:
            # A tick fell due but the block ended first (a stall right before exit): count it.
            self._observe(self._t_end)
        elif self._stride > 1:  # stopped mid-stride: the quiet slots already past
            began = self._state[1] - self._stride * self.interval
            self._fill(began, min(self._stride - 1, int((self._t_end - began) / self.interval)))
        self._stop.set()
        if self._clock is not None:
            self._clock.busy_began.set()  # wakes a sleeping watchdog so it can see the stop
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        self._captures.clear()

    # --- the tick, on the loop
    def _tick(self) -> None:
        loop = self._loop
        assert loop is not None
        now = loop.time()
        self._wakes += 1
        seq = self._observe(now)
        self._stride = 1
        if self._clock is not None and self._on_time * self.interval >= QUIET_BEFORE_SLEEP and (
                time.monotonic() - self._clock.last_busy >= QUIET_BEFORE_SLEEP):
            # Quiet and on time: tick every QUIET_STRIDE-th slot, back to every slot once work arrives.
            self._stride, self._quiet_lag = QUIET_STRIDE, self._lags[-1]
            if self._end_stride not in self._clock.on_busy:
                self._clock.on_busy.append(self._end_stride)
        due = now + self.interval * self._stride
        self._state = (seq + 1, due)
        self._handle = loop.call_at(due, self._tick)

    def _end_stride(self) -> None:
        """A busy pass began mid-stride: tick at the next slot, so every skipped slot was a quiet one."""
        loop, handle = self._loop, self._handle
        if loop is None or handle is None or self._t_end is not None or self._stride == 1:
            return
        seq, due = self._state
        began = due - self.interval * self._stride  # when the stride's first tick ran
        slots = max(1, math.ceil((loop.time() - began) / self.interval))
        if slots >= self._stride:
            return
        handle.cancel()
        self._stride, due = slots, began + slots * self.interval
        self._state = (seq, due)
        self._handle = loop.call_at(due, self._tick)

    def _observe(self, now: float) -> int:
        """Record how late the due tick is at ``now``; returns its sequence number."""
        seq, due = self._state
        lag = now - due
        if lag < 0.0:
            lag = 0.0
        self._fill(due - self._stride * self.interval, self._stride - 1)
        self._times.append(now - self._t0)
        self._lags.append(lag)
        self._on_time = self._on_time + 1 if lag < ON_TIME_LAG else 0
        if lag >= self.stall_threshold:
            if self._clock is None:
                self._record_stall(seq, due - self._t0, lag)
            elif lag >= max(self.stall_threshold, WAITING_THRESHOLD) and (
                    not self._stalls or self._stalls[-1].end_s < due - self._t0 - 0.001) and (
                    not self._in_long_pass()):
                # Late, yet no pass ran long: the loop was ready but could not run (GIL, CPU).
                self._stalls.append(Stall(start_s=max(0.0, due - self._t0), duration_s=lag, stack=(WAITING,)))
        return seq

    def _fill(self, began: float, slots: int) -> None:
        """Samples for the first ``slots`` slots a quiet stride begun at ``began`` skipped: the loop slept on time."""
        for slot in range(1, slots + 1):
            self._times.append(began + slot * self.interval + self._quiet_lag - self._t0)
            self._lags.append(self._quiet_lag)

    def _in_long_pass(self) -> bool:
        """True when the tick runs late inside a pass that is itself a stall (it is recorded when it ends)."""
        assert self._clock is not None
        began = self._clock.state[1]
        return bool(began) and time.monotonic() - began >= self.stall_threshold

    def _on_pass(self, seq: int, began: float, ended: float) -> None:
        """A pass of the loop has ended (called on the loop, just before it waits again)."""
        began = max(began, self._t0)  # a pass that began before the monitor counts from its start
        if ended - began >= self.stall_threshold:
            self._record_stall(seq, began - self._t0, ended - began)
        else:
            self._captures.pop(seq, None)

    def _record_stall(self, seq: int, start: float, duration: float) -> None:
        samples = self._captures.pop(seq, [])
        stack: tuple[StackFrame, ...] = ()
        if samples:
            # The culprit seen most often wins; keep the first full stack that shows it.
            votes = Counter(s[0] for s in samples if s)
            if votes:
                top = votes.most_common(1)[0][0]
                stack = next(s for s in samples if s and s[0] == top)
        self._stalls.append(Stall(start_s=max(0.0, start), duration_s=duration, stack=stack, samples=len(samples)))

    # --- the watchdog, in its own thread
    def _watch(self) -> None:
        # Look every few ms while the loop works; while it only ticks, sleep until a busy pass begins.
        busy_period = min(self.stall_threshold / 4, 0.025)
        period = busy_period
        clock = self._clock
        quiet_since: float | None = None
        while not self._stop.is_set():
            if clock is not None:
                _, began, busy = clock.state
                now = time.monotonic()
                period = busy_period if began else 2 * busy_period  # in select() nothing can be stuck yet
                if began and busy:
                    quiet_since = None
                elif quiet_since is None:
                    quiet_since = now
                elif now - quiet_since >= QUIET_BEFORE_SLEEP:
                    clock.busy_began.clear()
                    _, began, busy = clock.state
                    if not (began and busy):  # a busy pass that began before the clear is still watched
                        self._sleeps += 1
                        clock.busy_began.wait(timeout=1.0)
                    quiet_since = None
                    continue
            time.sleep(period)
            self._looks += 1
            seq = self._overdue()
            if seq is None:
                continue
            frame = sys._current_frames().get(self._loop_ident)
            stack = running_frames(capture_stack(frame))
            del frame
            if self._overdue() == seq and stack:
                self._captures.setdefault(seq, []).append(stack)

    def _overdue(self) -> int | None:
        """The number of the pass (or tick) that may be becoming a stall right now, else None."""
        if self._clock is not None:  # a pass that has run a tenth of the threshold: early, so a slow wake-up still sees it
            seq, began, _ = self._clock.state
            return seq if began and time.monotonic() - began >= self.stall_threshold / 10 else None
        seq, due = self._state
        return seq if time.monotonic() - due >= self.stall_threshold else None

    # --- reading
    def result(self) -> MonitorResult:
        """The measurements so far (or of the whole run once the block has exited)."""
        if self._loop is None:
            raise RuntimeError("the monitor has not run yet: use it as `async with LoopMonitor() as mon:` first")
        end = self._t_end if self._t_end is not None else self._loop.time()
        return MonitorResult(
            interval=self.interval,
            stall_threshold=self.stall_threshold,
            duration_s=end - self._t0,
            tick_times=list(self._times),
            tick_lags=list(self._lags),
            stalls=list(self._stalls),
        )

    @property
    def started_at(self) -> float:
        """The loop time (``loop.time()``) at which monitoring began; aligns other timelines."""
        return self._t0
