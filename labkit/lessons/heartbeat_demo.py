"""Rule 4 demo: a busy worker whose heartbeat shares its loop is declared dead while alive.

:func:`run_heartbeat_demo` starts two real worker processes in one mode, gives
``w1`` one slow model call (longer than the TTL, like a provider hiccup), runs
the recovery loop here, and waits until the document is DONE. The result holds
the execution log; ``.plot()`` draws it (:mod:`labkit.figures.heartbeat`).

With ``same-loop`` or ``sync-client`` the slow call starves ``w1``'s heartbeat:
the recovery loop declares it dead, requeues its task, ``w2`` runs it again,
and ``w1``'s own completion comes back ``stale``: the model was called twice.
With ``offload``, ``async-client`` or ``thread`` the heartbeat keeps beating.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..tasks import execlog
from ..tasks.execlog import Event
from ..redis.target import RedisTarget, redis_target
from ..tasks.procs import ProcessGroup
from ..tasks.recovery import Verdict, check_timing, recovery_loop
from ..reporting import Progress
from ..tasks.store import DONE, Store
from ..tasks.worker import PRESETS


@dataclass
class HeartbeatRun:
    """What one run measured; times are seconds since ``t0`` (wall clock)."""

    mode: str
    ttl_s: float
    scan_s: float
    t0: float
    events: list[Event]
    verdicts: list[Verdict]
    doc_state: str
    elapsed_s: float
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def duplicate_executions(self) -> int:
        return execlog.duplicate_executions(self.events)

    @property
    def false_dead(self) -> int:
        return execlog.false_dead(self.events)

    @property
    def executions(self) -> dict[str, int]:
        return dict(sorted(execlog.executions(self.events).items()))

    @property
    def ran_twice(self) -> list[str]:
        return [t for t, n in self.executions.items() if n > 1]

    @property
    def point(self) -> str:
        """What the age-and-tasks figure shows, in one line."""
        twice = len(self.ran_twice)
        return (f"{self.mode}: {self.false_dead} worker(s) wrongly declared dead, {twice} task(s) ran twice, "
                f"document {self.doc_state}.")

    def __str__(self) -> str:
        verdicts = ", ".join(f"{v.worker} at {v.at - self.t0:.2f} s" for v in self.verdicts) or "none"
        repeated = ", ".join(f"{task} ran {n} times" for task, n in self.executions.items() if n > 1)
        return (f"{self.mode}: declared dead: {verdicts}; false 'dead' verdicts: {self.false_dead}; "
                f"{len(self.executions)} tasks{' (' + repeated + ')' if repeated else ''}; "
                f"duplicate executions: {self.duplicate_executions}; "
                f"document {self.doc_state}, last call ended at {self.elapsed_s:.2f} s")

    def plot(self) -> Any:
        from ..figures.heartbeat import plot_run
        from ..figures.style import stating

        return stating(plot_run(self), self.point)


@dataclass
class HeartbeatComparison:
    runs: list[HeartbeatRun]

    @property
    def point(self) -> str:
        """What the side-by-side figure shows, in one line."""
        hurt = [r for r in self.runs if r.false_dead or r.ran_twice]
        clean = [r.mode for r in self.runs if not (r.false_dead or r.ran_twice)]
        counts = "; ".join(f"{r.mode} {r.false_dead}/{len(r.ran_twice)}" for r in hurt)
        if clean:
            counts += ("; " if counts else "") + f"{', '.join(clean)} 0/0"
        return f"Live workers declared dead / tasks run twice: {counts}."

    def __str__(self) -> str:
        return "\n".join([self.point, *(str(r) for r in self.runs)])

    def plot(self) -> Any:
        from ..figures.heartbeat import plot_comparison
        from ..figures.style import stating

        return stating(plot_comparison(self), self.point)


async def run_heartbeat_demo(
    mode: str = "same-loop",
    *,
    ttl_s: float = 0.5,
    scan_s: float = 0.1,
    tasks: int = 4,
    latency_s: float = 0.15,
    slow_latency_s: float = 1.2,
    target: RedisTarget | None = None,
    progress: Progress | None = None,
    timeout_s: float = 15.0,
    extra_args: Sequence[str] = (),
    python_path: Sequence[str] = (),
    ready_timeout_s: float = 10.0,
) -> HeartbeatRun:
    """Two real workers in ``mode``, one slow call on ``w1``, recovery running here.

    ``extra_args`` go to both workers after the preset (checks pass the
    learner's ``--handler`` or ``--start-heartbeat`` there); ``python_path`` is
    where the workers can import the learner's module from.
    """
    if mode not in PRESETS:
        raise ValueError(f"mode must be one of {', '.join(PRESETS)}, got {mode!r}")
    check_timing(ttl_s, scan_s)
    if not isinstance(tasks, int) or not 1 <= tasks <= 50:
        raise ValueError(f"tasks must be an int from 1 to 50, got {tasks!r}")
    say = progress or (lambda f, m: None)
    run_target = (target or redis_target()).child(f"hb-{mode}-{uuid.uuid4().hex[:6]}")  # labkit: ignore[R1] set-up before any task runs
    client = run_target.async_client()
    store = Store(client, run_target)
    stop = asyncio.Event()
    common = ["--mode", mode, "--ttl", str(ttl_s), "--latency", str(latency_s), "--grace", "5", *extra_args]
    try:
        async with ProcessGroup(run_target, python_path) as group:
            say(0.05, f"{mode}: starting two worker processes")
            w1, w2 = await asyncio.gather(
                group.start("w1", *common, "--slow-calls", "1", "--slow-latency", str(slow_latency_s),
                            timeout=ready_timeout_s),
                group.start("w2", *common, timeout=ready_timeout_s))
            t0 = time.time()
            recovery = asyncio.create_task(recovery_loop(run_target, stop, ttl_s=ttl_s, scan_s=scan_s))
            await store.create_doc("d1", tasks)
            say(0.2, f"{mode}: working on d1 ({tasks} tasks)")
            deadline = time.monotonic() + timeout_s
            while (await store.doc("d1")).state != DONE and time.monotonic() < deadline:
                say(min(0.8, 0.2 + 0.6 * (time.monotonic() - (deadline - timeout_s)) / 3), f"{mode}: working")
                await asyncio.sleep(0.05)
            say(0.85, f"{mode}: stopping the workers (SIGTERM)")
            for w in (w1, w2):
                w.send(signal.SIGTERM)
            codes = {w.id: await w.wait_exit(slow_latency_s + 3) for w in (w1, w2)}
            logs = {w.id: w.output() for w in (w1, w2)}
            stop.set()
            stats = await recovery
            doc = await store.doc("d1")
            events = await execlog.read(client, run_target)
        elapsed = max((e.t for e in events if e.kind == "finish"), default=t0) - t0
        say(1.0, f"{mode}: done")
        return HeartbeatRun(mode, ttl_s, scan_s, t0, events, stats.verdicts, doc.state, elapsed, codes, logs)
    finally:
        stop.set()
        await client.aclose()
        run_target.cleanup()


async def compare_modes(
    modes: tuple[str, ...] = tuple(PRESETS), progress: Progress | None = None, **kwargs: Any
) -> HeartbeatComparison:
    """The same workload in each mode, one after another (so they do not share the CPU)."""
    runs = []
    for i, mode in enumerate(modes):
        def scaled(f: float, m: str, i: int = i) -> None:
            if progress:
                progress((i + f) / len(modes), m)
        runs.append(await run_heartbeat_demo(mode, progress=scaled, **kwargs))
    return HeartbeatComparison(runs)
