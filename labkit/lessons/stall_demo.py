"""Rule 1's headline demo: the same requests handled four ways, with a heartbeat beside them.

``await run_stall("blocking")`` handles a few stand-in LLM requests on the
running loop while the monitor ticks and a heartbeat task beats, and returns a
:class:`StallRun` with the numbers; ``await compare()`` does it for several
strategies and returns a :class:`StallComparison` that plots them side by side
on the same scale.

Strategies: ``blocking`` (call the sync client on the loop), ``to_thread``
(``asyncio.to_thread``), ``async_client`` (await an async client), and
``process_pool`` (``loop.run_in_executor`` with a process pool). Work:
``io`` (waits, releases the GIL) or ``cpu`` (pure Python, holds the GIL).
I/O work is a real model call: the ``openai`` SDK (``OpenAI`` on the loop or in a
thread, ``AsyncOpenAI`` awaited) against the lab's local endpoint; a process
pool runs the stand-in ``llm.chat`` (a client object cannot be sent to a process).

Everything here is ``async def``: await it from a notebook cell (the kernel's
loop is already running) or from your own ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ..model import llm
from ..model.endpoint import ask, model_endpoint
from ..model.cpu_pool import shared_process_pool, warm_up
from ..instruments.loop_monitor import DEFAULT_INTERVAL, LoopMonitor, MonitorResult
from ..reporting import Progress

STRATEGIES = ("blocking", "to_thread", "async_client", "process_pool")
WORKS = ("io", "cpu")
DEFAULT_STRATEGIES = {"io": ("blocking", "to_thread", "async_client"), "cpu": ("blocking", "to_thread", "process_pool")}
SYSTEM_MSG = "You summarise documents for an ingestion service."
MAX_CALL_S = 5.0
MAX_REQUESTS = 16


__all__ = ["run_stall", "compare", "StallRun", "StallComparison", "HeartbeatTrace", "STRATEGIES", "WORKS"]


# --------------------------------------------------------------------------- heartbeat


@dataclass(frozen=True)
class HeartbeatTrace:
    """When a heartbeat task beat, and which beats a blocked loop swallowed."""

    period_s: float
    dead_after_s: float  # a reconciler would call the worker dead after this long without a beat
    beats: tuple[float, ...]  # seconds since the monitor started
    missed: tuple[float, ...]  # times a beat was due but did not happen
    longest_gap_s: float

    @property
    def looked_dead(self) -> bool:
        return self.longest_gap_s > self.dead_after_s


def _missed_beats(beats: Sequence[float], start: float, period: float) -> tuple[tuple[float, ...], float]:
    missed: list[float] = []
    longest = 0.0
    previous = start
    for beat in beats:
        gap = beat - previous
        longest = max(longest, gap)
        due = previous + period
        while due < beat - period / 2:  # a beat was due well before this one came
            missed.append(due)
            due += period
        previous = beat
    return tuple(missed), longest


class _Heartbeat:
    """A task that beats every ``period`` seconds, like a worker's liveness signal."""

    def __init__(self, period: float, t0: float) -> None:
        self.period = period
        self.t0 = t0
        self.beats: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.period)
            self.beats.append(loop.time() - self.t0)

    def start(self) -> None:
        self.started = asyncio.get_running_loop().time() - self.t0
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self, dead_after: float) -> HeartbeatTrace:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        missed, longest = _missed_beats(self.beats, self.started, self.period)
        return HeartbeatTrace(self.period, dead_after, tuple(self.beats), missed, longest)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class StallRun:
    """One strategy's run: the monitor's result, the heartbeat, and the requests' outcome."""

    strategy: str
    work: str
    call_s: float
    requests: int
    monitor: MonitorResult
    heartbeat: HeartbeatTrace
    work_s: float  # wall time from the first request to the last reply
    replies_ok: bool

    @property
    def p99_ms(self) -> float:
        return self.monitor.p99_ms

    @property
    def stalled_s(self) -> float:
        return self.monitor.stalled_s

    @property
    def label(self) -> str:
        return f"{self.strategy} ({self.work})"

    def summary(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "work": self.work,
            "p50_ms": round(self.monitor.p50_ms, 2),
            "p99_ms": round(self.monitor.p99_ms, 2),
            "max_ms": round(self.monitor.max_ms, 1),
            "stalls": self.monitor.stall_count,
            "stalled_s": round(self.monitor.stalled_s, 3),
            "missed_beats": len(self.heartbeat.missed),
            "looked_dead": self.heartbeat.looked_dead,
            "work_s": round(self.work_s, 3),
        }

    @property
    def verdict(self) -> str:
        """What the heartbeat beside the requests went through."""
        missed = len(self.heartbeat.missed)
        return "the heartbeat looked dead" if self.heartbeat.looked_dead else \
            f"{missed} heartbeat{'' if missed == 1 else 's'} missed"

    @property
    def point(self) -> str:
        return points_of([self])

    def __str__(self) -> str:
        s = self.summary()
        return (
            f"{self.label}: {self.requests} x {self.call_s:g} s requests took {s['work_s']:.2f} s; "
            f"lag p99 {s['p99_ms']:.1f} ms, max {s['max_ms']:.1f} ms; {s['stalled_s']:.2f} s stalled; "
            f"{s['missed_beats']} heartbeat(s) missed" + (" - the worker looked dead" if s["looked_dead"] else "")
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def plot(self) -> Any:
        """Lag timeline with missed heartbeats, and the lag histogram; returns the Figure."""
        from ..figures.stall import plot_runs
        from ..figures.style import stating

        return stating(plot_runs([self]), self.point)


@dataclass(frozen=True)
class StallComparison:
    """Several :class:`StallRun` of the same workload, for side-by-side plots."""

    runs: tuple[StallRun, ...]

    def __getitem__(self, strategy: str) -> StallRun:
        for run in self.runs:
            if run.strategy == strategy:
                return run
        raise KeyError(f"no run for strategy {strategy!r}; this comparison has {[r.strategy for r in self.runs]}")

    def summary(self) -> list[dict[str, Any]]:
        return [run.summary() for run in self.runs]

    @property
    def point(self) -> str:
        """What the side-by-side figure shows, in one line."""
        return points_of(self.runs)

    def __str__(self) -> str:
        return "\n".join([self.point, *(str(run) for run in self.runs)])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def plot(self) -> Any:
        """All runs side by side, same scale; returns the Figure."""
        from ..figures.stall import plot_runs
        from ..figures.style import stating

        return stating(plot_runs(list(self.runs)), self.point)


def points_of(runs: Sequence[StallRun]) -> str:
    """One line for one or more runs of the same workload: each strategy's p99 and its heartbeat."""
    first = runs[0]
    plural = "" if first.requests == 1 else "s"
    return (f"{first.requests} request{plural} of {first.call_s:g} s ({first.work}): "
            + "; ".join(f"{run.strategy} p99 {run.p99_ms:.1f} ms, {run.verdict}" for run in runs) + ".")


# --------------------------------------------------------------------------- running


def _validate(strategy: object, work: object, call_s: object, requests: object) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")
    if work not in WORKS:
        raise ValueError(f"work must be 'io' (waits on a network) or 'cpu' (pure Python), got {work!r}")
    if isinstance(call_s, bool) or not isinstance(call_s, (int, float)):
        raise TypeError(f"call_s must be a number of seconds, got {type(call_s).__name__}; pass e.g. 0.3")
    if not math.isfinite(call_s) or not 0 < call_s <= MAX_CALL_S:
        raise ValueError(f"call_s must be more than 0 and at most {MAX_CALL_S:g} seconds, got {call_s!r}")
    if isinstance(requests, bool) or not isinstance(requests, int):
        raise TypeError(f"requests must be a whole number, got {type(requests).__name__}; pass e.g. 3")
    if not 1 <= requests <= MAX_REQUESTS:
        raise ValueError(f"requests must be between 1 and {MAX_REQUESTS}, got {requests}")


def _handler(strategy: str, work: str) -> Callable[[list[str], dict[str, Any]], Any]:
    """The async request handler for one strategy: the only thing that differs between runs."""
    if work == "io" and strategy != "process_pool":
        return _sdk_handler(strategy)
    sync_call = llm.chat if work == "io" else llm.chat_cpu

    async def blocking(history: list[str], conf: dict[str, Any]) -> str:
        return sync_call(SYSTEM_MSG, history, conf)  # runs on the loop: everything else waits

    async def to_thread(history: list[str], conf: dict[str, Any]) -> str:
        return await asyncio.to_thread(sync_call, SYSTEM_MSG, history, conf)

    client = llm.AsyncChatModel(work)

    async def async_client(history: list[str], conf: dict[str, Any]) -> str:
        return await client.chat(SYSTEM_MSG, history, conf)

    async def process_pool(history: list[str], conf: dict[str, Any]) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(shared_process_pool(), sync_call, SYSTEM_MSG, history, conf)

    return {"blocking": blocking, "to_thread": to_thread, "async_client": async_client, "process_pool": process_pool}[
        strategy
    ]


def _sdk_handler(strategy: str) -> Callable[[list[str], dict[str, Any]], Any]:
    """I/O work through the real openai SDK and the lab's local endpoint."""
    endpoint = model_endpoint()
    # Clients are made (and their lazily imported parts loaded) now, before the monitor starts.
    if strategy == "async_client":
        async_client = endpoint.async_client().for_loop()
        async_client.chat.completions

        async def awaited(history: list[str], conf: dict[str, Any]) -> str:
            response = await async_client.chat.completions.create(**ask(SYSTEM_MSG, history, conf))
            return response.choices[0].message.content or ""

        return awaited
    sync_client = endpoint.client()
    sync_client.chat.completions

    def call(history: list[str], conf: dict[str, Any]) -> str:
        response = sync_client.chat.completions.create(**ask(SYSTEM_MSG, history, conf))  # blocks its caller
        return response.choices[0].message.content or ""

    async def blocking(history: list[str], conf: dict[str, Any]) -> str:
        return call(history, conf)  # runs on the loop: everything else waits

    async def to_thread(history: list[str], conf: dict[str, Any]) -> str:
        return await asyncio.to_thread(call, history, conf)

    return blocking if strategy == "blocking" else to_thread


async def run_stall(
    strategy: str = "blocking",
    work: str = "io",
    call_s: float = 0.3,
    requests: int = 3,
    *,
    heartbeat_s: float = 0.05,
    interval: float = DEFAULT_INTERVAL,
    idle_s: float = 0.1,
    progress: Progress | None = None,
) -> StallRun:
    """Handle ``requests`` concurrent requests of ``call_s`` seconds each one way, and measure the loop."""
    _validate(strategy, work, call_s, requests)
    if strategy == "process_pool":
        await warm_up(shared_process_pool())  # worker start-up is not part of the measurement
    handle = _handler(strategy, work)
    if work == "io" and strategy != "process_pool":
        # One instant request first: a client's first request opens its connection and loads what the SDK
        # loads on first use, tens of milliseconds of CPU that would otherwise be counted as the strategy's lag.
        await handle(["warm-up"], {"latency_s": 0.0})
    conf = {"latency_s": float(call_s)}
    loop = asyncio.get_running_loop()
    done = 0

    async def one(i: int) -> bool:
        nonlocal done
        history = [f"document {i}: please summarise"]
        reply = await handle(history, conf)
        done += 1
        if progress is not None:
            progress(done / requests, f"{strategy}: {done}/{requests} replies")
        return reply == llm.reply_for(SYSTEM_MSG, history, conf)

    async with LoopMonitor(interval=interval) as mon:
        beat = _Heartbeat(heartbeat_s, mon.started_at)
        beat.start()
        await asyncio.sleep(idle_s)
        began = loop.time()
        oks = await asyncio.gather(*(one(i) for i in range(requests)))
        work_s = loop.time() - began
        await asyncio.sleep(idle_s)
        trace = await beat.stop(dead_after=3 * heartbeat_s)
    return StallRun(strategy, work, float(call_s), requests, mon.result(), trace, work_s, all(oks))


async def compare(
    strategies: Sequence[str] | None = None,
    work: str = "io",
    call_s: float = 0.3,
    requests: int | None = None,
    *,
    heartbeat_s: float = 0.05,
    progress: Progress | None = None,
) -> StallComparison:
    """Run the same workload with each strategy in turn (defaults suit ``work``).

    ``requests`` defaults to 3 for I/O and 1 for CPU work: one CPU-bound thread
    shows the GIL switch-interval lag; several starve the loop far worse (try it).
    """
    if work not in WORKS:
        raise ValueError(f"work must be 'io' or 'cpu', got {work!r}")
    if requests is None:
        requests = 3 if work == "io" else 1
    chosen = tuple(DEFAULT_STRATEGIES[work] if strategies is None else strategies)
    if isinstance(strategies, str) or not chosen:
        raise TypeError(f"strategies must be a list of names from {list(STRATEGIES)}, got {strategies!r}")
    for strategy in chosen:
        _validate(strategy, work, call_s, requests)
    runs = []
    for n, strategy in enumerate(chosen):

        def step(fraction: float, message: str, n: int = n) -> None:
            if progress is not None:
                progress((n + fraction) / len(chosen), message)

        runs.append(
            await run_stall(strategy, work, call_s, requests, heartbeat_s=heartbeat_s, progress=step)
        )
    return StallComparison(tuple(runs))
