"""Rule 5 demo: signal a real worker mid-task and see what happens to its task.

Each scenario starts one worker process, gives it a document of two tasks,
waits until it is inside the first one and signals it (the signal goes to the
subprocess, never to this kernel). A recovery loop runs here throughout, so a
task left behind RUNNING is requeued once the TTL lapses; the run records how
long it was stuck.

* ``graceful`` / ``sigint`` - SIGTERM / SIGINT: stop claiming, finish the task, exit 0.
* ``just-dies`` - no handler: the process dies, its task stays RUNNING until recovery.
* ``too-slow`` - the task will not finish within the grace period: it is released
  (fenced, atomically) to the head of the queue, and the worker exits 0.
* ``second-signal`` - SIGTERM, then SIGINT while waiting: release at once, exit 0.
* ``blocked-sync`` - like ``too-slow``, but the model call blocks the loop: the
  handler cannot run until the call returns, so the grace deadline is ignored.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..tasks import execlog
from ..tasks.execlog import Event
from ..redis.target import RedisTarget, redis_target
from ..tasks.procs import ProcessGroup
from ..tasks.recovery import recovery_loop
from ..reporting import Progress
from ..tasks.store import DONE, RUNNING, Store, task_id
from ..tasks.worker import WorkerConfig

TTL_S = 0.5
GRACE_SLACK_S = 0.3  # process start-up and signal delivery, beyond the grace itself
SCENARIOS: dict[str, dict[str, Any]] = {
    "graceful": {"args": ["--mode", "offload", "--latency", "0.8"], "signals": [(0.2, "SIGTERM")]},
    "sigint": {"args": ["--mode", "offload", "--latency", "0.8"], "signals": [(0.2, "SIGINT")]},
    "just-dies": {"args": ["--mode", "offload", "--latency", "0.8", "--on-signal", "die"],
                  "signals": [(0.2, "SIGTERM")]},
    "too-slow": {"args": ["--mode", "offload", "--latency", "2", "--grace", "0.5"], "signals": [(0.2, "SIGTERM")]},
    "second-signal": {"args": ["--mode", "offload", "--latency", "5", "--grace", "3"],
                      "signals": [(0.2, "SIGTERM"), (0.5, "SIGINT")]},
    "blocked-sync": {"args": ["--mode", "thread", "--latency", "2", "--grace", "0.5"], "signals": [(0.2, "SIGTERM")]},
}



@dataclass
class ShutdownRun:
    """One signalled worker: how it exited and where its tasks ended up (times from the claim)."""

    scenario: str
    t0: float
    signals: list[tuple[float, str]]
    exit_code: int | None
    exited_at: float
    states_at_exit: dict[str, str]
    stuck_running_s: float
    events: list[Event] = field(default_factory=list)
    log: str = ""
    doc_state_after_drain: str = ""
    grace_s: float = 2.0  # how long the worker was told an in-flight task may take after the signal

    @property
    def shutdown_s(self) -> float:
        """From the first signal to the process being gone."""
        return self.exited_at - self.signals[0][0]

    @property
    def left_running(self) -> list[str]:
        """Tasks still RUNNING after the worker was gone: lost until recovery notices."""
        return [t for t, s in self.states_at_exit.items() if s == RUNNING]

    @property
    def released(self) -> list[str]:
        return [str(e.get("task")) for e in self.events if e.kind == "release" and e.get("released")]

    @property
    def executions(self) -> dict[str, int]:
        return dict(sorted(execlog.executions(self.events).items()))

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.left_running

    @property
    def missed_grace(self) -> bool:
        """The worker took longer than its grace period to go (its loop could not hear the signal)."""
        return self.shutdown_s > self.grace_s + GRACE_SLACK_S

    @property
    def point(self) -> str:
        """What its row of the figure shows, in one line."""
        from ..figures.shutdown import outcome

        label, good = outcome(self)
        return f"{self.scenario}: {label}{'' if good else ' (not clean)'}."

    def __str__(self) -> str:
        sent = " + ".join(name for _, name in self.signals)
        stuck = f", stuck RUNNING {self.stuck_running_s:.2f} s until recovery" if self.left_running else ""
        late = f" (grace was {self.grace_s:g} s: ignored)" if self.missed_grace else ""
        states = ", ".join(f"{task} {state}" for task, state in self.states_at_exit.items())
        return (f"{self.scenario:>13}: {sent} -> exit code {self.exit_code} after {self.shutdown_s:.2f} s{late}; "
                f"tasks at exit: {states}; released: {', '.join(self.released) or 'none'}{stuck}")

    def plot(self) -> Any:
        from ..figures.shutdown import plot_shutdowns
        from ..figures.style import stating

        return stating(plot_shutdowns([self]), self.point)


@dataclass
class ShutdownComparison:
    runs: list[ShutdownRun]

    @property
    def point(self) -> str:
        """What the figure shows, in one line."""
        return "; ".join(r.point.rstrip(".") for r in self.runs) + "."

    def __str__(self) -> str:
        return "\n".join([self.point, *(str(r) for r in self.runs)])

    def __getitem__(self, scenario: str) -> ShutdownRun:
        return next(r for r in self.runs if r.scenario == scenario)

    def plot(self) -> Any:
        from ..figures.shutdown import plot_shutdowns
        from ..figures.style import stating

        return stating(plot_shutdowns(self.runs), self.point)


async def _doc_done(store: Store) -> bool:
    return (await store.doc("d1")).state == DONE


async def _wait_for(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(step)
    return False


async def run_shutdown_demo(
    scenario: str = "graceful",
    *,
    target: RedisTarget | None = None,
    progress: Progress | None = None,
    spec: dict[str, Any] | None = None,
    python_path: Sequence[str] = (),
    drain: bool = False,
    exit_timeout_s: float = 15.0,
    ttl_s: float = TTL_S,
) -> ShutdownRun:
    """Run one scenario (see :data:`SCENARIOS`) against a real worker process.

    ``spec`` replaces the scenario's ``args`` and ``signals`` (checks run the
    learner's worker this way). ``drain`` then runs a second, well-behaved worker
    until the document is DONE, so the run shows whether any task was lost or
    run twice. The recovery loop stops before that worker starts: it is there for
    the signalled worker's task, and a starved machine must not make it take the
    lab's own draining worker for dead. ``ttl_s``: the workers' heartbeat TTL
    (checks, which judge shutdown and not heartbeats, give a loaded machine room).
    """
    if spec is None and scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    spec = spec if spec is not None else SCENARIOS[scenario]
    say = progress or (lambda f, m: None)
    run_target = (target or redis_target()).child(f"sd-{scenario}-{uuid.uuid4().hex[:6]}")  # labkit: ignore[R1] set-up before any task runs
    client = run_target.async_client()
    store = Store(client, run_target)
    stop = asyncio.Event()
    tasks = [task_id("d1", 1), task_id("d1", 2)]
    try:
        async with ProcessGroup(run_target, python_path) as group:
            say(0.1, f"{scenario}: starting the worker")
            proc = await group.start("w1", "--ttl", str(ttl_s), *spec["args"])
            recovery = asyncio.create_task(recovery_loop(run_target, stop, ttl_s=ttl_s, scan_s=0.05))
            await store.create_doc("d1", len(tasks))

            async def claimed() -> bool:
                return any(e.kind == "claim" for e in await execlog.read(client, run_target))

            await _wait_for(claimed, 5.0)
            t0 = time.time()
            say(0.3, f"{scenario}: signalling the worker mid-task")
            sent: list[tuple[float, str]] = []
            for delay, name in spec["signals"]:
                await asyncio.sleep(max(0.0, t0 + delay - time.time()))
                proc.send(signal.Signals[name])
                sent.append((time.time(), name))
            code = await proc.wait_exit(exit_timeout_s)
            log = proc.output()  # labkit: ignore[R1] reads a small log after the worker exited
            if code is None:
                proc.kill()
            exited = time.time() if proc.exited_at is None else proc.exited_at
            states = {t: (await store.task(t)).state for t in tasks}
            say(0.6, f"{scenario}: exit code {code}; watching for stuck tasks")

            async def none_running() -> bool:
                return all(s.state != RUNNING for s in [await store.task(t) for t in tasks])

            await _wait_for(none_running, ttl_s + 2.0, step=0.01)
            stop.set()
            await recovery
            doc_state = ""
            if drain:
                say(0.8, f"{scenario}: a second worker drains the queue")
                await group.start("w2", "--ttl", str(ttl_s), "--mode", "async-client", "--latency", "0.05")
                await _wait_for(lambda: _doc_done(store), 8.0)
                doc_state = (await store.doc("d1")).state
            events = await execlog.read(client, run_target)
            verdicts = [e.t for e in events if e.kind == "dead" and e.get("requeued")]
            stuck = 0.0
            if any(s == RUNNING for s in states.values()):
                stuck = (verdicts[0] if verdicts else time.time()) - exited
        say(1.0, f"{scenario}: done")
        args = list(spec["args"])
        grace = float(args[args.index("--grace") + 1]) if "--grace" in args else WorkerConfig.grace_s
        return ShutdownRun(scenario, t0, sent, code, exited, states, stuck, events, log, doc_state, grace)
    finally:
        stop.set()
        await client.aclose()
        run_target.cleanup()


async def compare_shutdowns(
    scenarios: tuple[str, ...] = tuple(SCENARIOS), progress: Progress | None = None, **kwargs: Any
) -> ShutdownComparison:
    """All scenarios at once, each with its own worker and key prefix (they mostly wait)."""
    done = 0

    def tick(f: float, message: str) -> None:
        nonlocal done
        if f >= 1.0:
            done += 1
        if progress:
            progress(done / len(scenarios), message)

    runs = await asyncio.gather(*(run_shutdown_demo(s, progress=tick, **kwargs) for s in scenarios))
    return ShutdownComparison(list(runs))
