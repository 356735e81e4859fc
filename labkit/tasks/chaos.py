"""The chaos run: the fixed executor under worker crashes, SIGTERMs and a Redis restart.

:func:`run_chaos` starts a dedicated Redis server with AOF persistence
(``appendfsync always``, so a restart loses no acknowledged write), several real
worker processes (:mod:`labkit.tasks.worker` in a fixed mode: offloaded model call,
fenced completion, graceful SIGTERM) and the recovery loop (:mod:`labkit.tasks.recovery`),
then injects a seeded schedule of faults while the tasks run:

* ``kill`` - SIGKILL a worker; its task stays RUNNING until recovery requeues it;
* ``sigterm`` - a graceful stop; the worker finishes or releases its task, exits 0;
* ``redis-restart`` - stop the server and start it again on the same socket;
* ``freeze`` - SIGSTOP a worker while it holds a task (a long GC pause, a stalled VM):
  its lease lapses, recovery requeues the task under a new epoch, and only then does
  SIGCONT wake it. The zombie finishes its model call and tries to complete the task:
  the fenced completion refuses it (``stale``), and the requeued task runs again on
  another worker. So every run shows the fencing at work, whatever the timings.

Each killed, stopped or frozen worker is replaced at once (a frozen one works on
as an extra worker once it wakes, and counts as crashed if it then dies). A fault fires when a given
number of tasks are DONE, so the same seed gives the same schedule however fast
the machine is (:func:`fault_schedule`). The final tally must show every task
DONE exactly once in effect (model calls that ran twice are counted, the store's
fencing keeps one completion), no DONE document going back, and no lost task.
Everything it started is killed in a ``finally``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import signal
import time
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import execlog
from ..errors import LabError
from ..redis.target import RedisTarget
from .procs import ProcessGroup, WorkerProcess
from .recovery import recovery_loop, workers_key
from ..redis.server import EmbeddedRedis
from ..reporting import Progress
from .store import DONE, RUNNING, Store, task_id

AOF_ARGS = ("--appendonly", "yes", "--appendfsync", "always")
KINDS = ("kill", "sigterm", "redis-restart", "freeze")
#: What each kind does, in the words the schedule is printed with.
VERBS = {"kill": "kill -9", "sigterm": "SIGTERM", "redis-restart": "restart", "freeze": "freeze (SIGSTOP)"}
TASKS_PER_DOC = 5


@dataclass(frozen=True)
class Fault:
    """One planned fault: fire ``kind`` at worker slot ``slot`` once ``after_done`` tasks are DONE."""

    after_done: int
    kind: str
    slot: int = -1  # -1: not about a worker (the Redis restart)

    def __str__(self) -> str:
        who = "the Redis server" if self.slot < 0 else f"worker slot {self.slot}"
        until = " until its task is taken over" if self.kind == "freeze" else ""
        return f"after {self.after_done} done: {VERBS[self.kind]} {who}{until}"


def _count(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an int from {low} to {high}, got {value!r}")
    return value


def fault_schedule(seed: int, *, workers: int = 3, tasks: int = 30, kills: int = 3, sigterms: int = 2,
                   redis_restarts: int = 1, freezes: int = 1) -> list[Fault]:
    """The faults of one run, in firing order; a pure function of its arguments.

    Worker faults land between 10 % and 80 % of the tasks, the Redis restart
    between 30 % and 60 %, so each one hits a busy executor; a freeze lands
    between 20 % and 50 %, leaving time for its task to be taken over and run again.
    """
    _count("seed", seed, 0, 2**63)
    _count("workers", workers, 1, 16)
    _count("tasks", tasks, 1, 2000)
    _count("kills", kills, 0, 100)
    _count("sigterms", sigterms, 0, 100)
    _count("redis_restarts", redis_restarts, 0, 5)
    _count("freezes", freezes, 0, 5)
    rng = random.Random(seed)
    restarts = [Fault(rng.randint(max(1, tasks * 3 // 10), max(1, tasks * 6 // 10)), "redis-restart")
                for _ in range(redis_restarts)]
    # Worker faults at distinct points where possible, so each replacement gets a moment to start.
    points = list(range(max(1, tasks // 10), max(1, tasks * 8 // 10) + 1))
    n = kills + sigterms
    picks = rng.sample(points, n) if n <= len(points) else [rng.choice(points) for _ in range(n)]
    kinds = ["kill"] * kills + ["sigterm"] * sigterms
    rng.shuffle(kinds)
    faults = [Fault(at, kind, rng.randrange(workers)) for at, kind in zip(picks, kinds)] + restarts
    # drawn last, so adding freezes leaves a seed's other faults where they were
    faults += [Fault(rng.randint(max(1, tasks // 5), max(1, tasks // 2)), "freeze", rng.randrange(workers))
               for _ in range(freezes)]
    return sorted(faults, key=lambda f: (f.after_done, KINDS.index(f.kind), f.slot))


@dataclass(frozen=True)
class Fired:
    """A fault as it happened: seconds since the start, and which process it hit."""

    fault: Fault
    t: float
    worker: str = ""
    replacement: str = ""
    seconds: float = 0.0  # how long a Redis restart took, or how long a worker stayed frozen
    task: str = ""  # the task a frozen worker held


@dataclass
class ChaosResult:
    """The numbers of one chaos run; ``ok`` when every invariant held."""

    seed: int
    workers: int
    tasks: int
    schedule: list[Fault]
    fired: list[Fired]
    tasks_done: int
    effective_completions: int
    duplicate_executions: int
    stale_completions: int
    done_to_fail: int
    lost: list[str]
    dead_verdicts: int
    crashed: list[str]
    sigterm_exit_codes: dict[str, int | None]
    seconds: float
    timeline: list[tuple[float, int]] = field(default_factory=list)
    crash_logs: dict[str, str] = field(default_factory=dict)
    executions: dict[str, int] = field(default_factory=dict)
    server_pid: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for f in self.fired if f.fault.kind == kind)

    @property
    def kills(self) -> int:
        return self.count("kill")

    @property
    def sigterms(self) -> int:
        return self.count("sigterm")

    @property
    def redis_restarts(self) -> int:
        return self.count("redis-restart")

    @property
    def freezes(self) -> int:
        return self.count("freeze")

    @property
    def exactly_once(self) -> bool:
        """Every task DONE, and the store counted exactly one completion per task."""
        return self.tasks_done == self.tasks and self.effective_completions == self.tasks

    @property
    def ok(self) -> bool:
        return self.exactly_once and self.done_to_fail == 0 and not self.lost

    def to_dict(self) -> dict[str, Any]:
        """The benchmark's figures."""
        return {
            "seed": self.seed, "workers": self.workers, "tasks": self.tasks, "kills": self.kills,
            "sigterms": self.sigterms, "redis_restarts": self.redis_restarts, "freezes": self.freezes,
            "tasks_done": self.tasks_done, "duplicate_executions": self.duplicate_executions,
            "stale_completions": self.stale_completions, "done_to_fail": self.done_to_fail,
            "lost": len(self.lost), "seconds": round(self.seconds, 2),
        }

    @property
    def point(self) -> str:
        """What the progress-and-tally figure shows, in one line."""
        return (f"{self.effective_completions}/{self.tasks} tasks DONE once in effect through {self.kills} kill -9, "
                f"{self.sigterms} SIGTERM, {self.freezes} freeze and {self.redis_restarts} Redis restart: "
                f"{self.duplicate_executions} ran again, {self.stale_completions} zombie write(s) fenced off, "
                f"{self.done_to_fail} DONE -> FAIL, {len(self.lost)} lost.")

    def __str__(self) -> str:
        verdict = "every invariant held" if self.ok else "INVARIANT BROKEN"
        graceful = ", ".join(f"{w}: {c}" for w, c in self.sigterm_exit_codes.items()) or "none"
        frozen = "".join(f"; {f.worker} frozen {f.seconds:.1f} s holding {f.task}" for f in self.fired
                         if f.fault.kind == "freeze" and f.task)
        return (
            f"{self.point}\n"
            f"chaos run, seed {self.seed}: {self.workers} workers, {self.tasks} tasks, {self.seconds:.1f} s: {verdict}\n"
            f"  faults: {self.kills} kill -9, {self.sigterms} SIGTERM (exit codes {graceful}), "
            f"{self.redis_restarts} Redis restart(s), {self.freezes} freeze(s){frozen}; "
            f"{self.dead_verdicts} worker(s) declared dead\n"
            f"  tasks DONE: {self.tasks_done}/{self.tasks}; completions the store counted: "
            f"{self.effective_completions} (exactly once: {self.exactly_once})\n"
            f"  model calls that ran again after a crash or a freeze: {self.duplicate_executions}; zombie "
            f"completions fenced off: {self.stale_completions}\n"
            f"  DONE -> FAIL: {self.done_to_fail}; lost tasks: {len(self.lost)}"
            + (f" {self.lost}" if self.lost else "")
            + (f"; workers that crashed on their own: {self.crashed}" if self.crashed else "")
        )

    def plot(self) -> Any:
        from ..figures.chaos import plot_chaos
        from ..figures.style import stating

        return stating(plot_chaos(self), self.point)


class _Fleet:
    """The worker slots: one live process each, replaced when a fault takes it down."""

    def __init__(self, group: ProcessGroup, args: list[str]) -> None:
        self.group, self.args = group, args
        self.slots: list[WorkerProcess] = []
        self.generation: list[int] = []
        self.stopped: list[WorkerProcess] = []  # signalled by us: not a crash
        self.crashed: list[str] = []
        self.crash_logs: dict[str, str] = {}
        self.frozen: list[WorkerProcess] = []  # taken out of their slot; extra workers once woken

    async def start(self, n: int) -> None:
        self.generation = [0] * n
        self.slots = list(await asyncio.gather(*(self.group.start(f"w{i}", *self.args) for i in range(n))))

    async def replace(self, slot: int) -> str:
        self.generation[slot] += 1
        proc = await self.group.start(f"w{slot}-restart{self.generation[slot]}", *self.args, ready=False)
        self.slots[slot] = proc
        return proc.id

    async def hit(self, slot: int, sig: int) -> tuple[str, str]:
        """Signal the slot's worker once it is up (handlers installed, working), then replace it."""
        old = self.slots[slot]
        if old.alive:
            try:
                await old.wait_ready(10.0)
            except LabError:
                pass  # it died while starting: replace_crashed() counts it
        old.send(sig)
        self.stopped.append(old)
        return old.id, await self.replace(slot)

    async def freeze(self, slot: int, store: Store, task_ids: list[str]) -> tuple[str, str, str, int]:
        """SIGSTOP the slot's worker while it holds a RUNNING task, and replace it.

        Returns (frozen worker, its replacement, the task it holds, that task's epoch);
        the task is "" if the worker held none within a few seconds (it is then left running).
        """
        proc = self.slots[slot]
        try:
            await proc.wait_ready(10.0)
        except LabError:
            return proc.id, "", "", 0  # it died while starting: replace_crashed() counts it
        deadline = time.monotonic() + 5.0
        while proc.alive and time.monotonic() < deadline:
            held = await _held_by(store, task_ids, proc.id)
            if held is None:
                await asyncio.sleep(0.01)
                continue
            proc.popen.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.05)  # a completion it sent just before the stop lands first...
            if await _held_by(store, task_ids, proc.id) == held:  # ...so freeze only if it still holds the task
                self.frozen.append(proc)
                self.stopped.append(proc)
                return proc.id, await self.replace(slot), *held
            proc.popen.send_signal(signal.SIGCONT)
        return proc.id, "", "", 0

    def wake_all(self) -> None:
        for proc in self.frozen:
            if proc.alive:
                proc.popen.send_signal(signal.SIGCONT)

    async def replace_crashed(self) -> None:
        """Count and replace a slot's worker that died on its own; count a woken frozen worker that died."""
        for slot, proc in enumerate(self.slots):
            if not proc.alive and proc not in self.stopped:
                self.stopped.append(proc)
                await self._crash(proc)
                await self.replace(slot)
        for proc in self.frozen:  # an extra worker once woken, so nothing replaces it; until the end it must live
            if not proc.alive and proc.id not in self.crashed:
                await self._crash(proc)

    async def _crash(self, proc: WorkerProcess) -> None:
        self.crashed.append(proc.id)
        output = await asyncio.to_thread(proc.output)  # a file read: keep it off the loop
        lines = [line for line in output.splitlines() if line.strip()]
        self.crash_logs[proc.id] = lines[-1][:300] if lines else f"exit code {proc.popen.returncode}"


async def _held_by(store: Store, task_ids: list[str], worker: str) -> tuple[str, int] | None:
    """(task, epoch) of a task ``worker`` holds RUNNING, if any."""
    async with store.client.pipeline(transaction=False) as pipe:
        for t in task_ids:
            pipe.hmget(store.task_key(t), "state", "worker", "epoch")
        rows = await pipe.execute()
    for t, (state, owner, epoch) in zip(task_ids, rows):
        if state == RUNNING and owner == worker:
            return t, int(epoch or 0)
    return None


async def _wake_after_takeover(proc: WorkerProcess, store: Store, task: str, epoch: int, limit_s: float) -> float:
    """SIGCONT the frozen worker once its task has a new epoch (recovery requeued it); seconds it stayed frozen."""
    began = time.monotonic()
    while time.monotonic() - began < limit_s:
        try:
            if int(await store.client.hget(store.task_key(task), "epoch") or 0) != epoch:
                break
        except (RedisConnectionError, RedisTimeoutError):
            pass  # the server is restarting
        await asyncio.sleep(0.05)
    if proc.alive:
        proc.popen.send_signal(signal.SIGCONT)
    return time.monotonic() - began


async def _until_every_worker_left(store: Store, limit_s: float) -> None:
    """Wait (at most ``limit_s``) until the worker set is empty: every worker left or was declared dead.

    A worker killed near the end holds no task, so nothing waits for its verdict; without this
    wait the run could stop recovery before that worker's lease lapses, and the tally would miss it.
    """
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            if not await store.client.scard(workers_key(store.target)):
                return
        except (RedisConnectionError, RedisTimeoutError):
            pass
        await asyncio.sleep(0.05)


async def _done_count(store: Store, docs: list[str]) -> tuple[int, dict[str, str]]:
    async with store.client.pipeline(transaction=False) as pipe:
        for d in docs:
            pipe.hmget(store.doc_key(d), "done", "state")
        rows = await pipe.execute()
    return sum(int(r[0] or 0) for r in rows), {d: str(r[1]) for d, r in zip(docs, rows)}


async def run_chaos(
    seed: int = 0,
    *,
    workers: int = 3,
    tasks: int = 30,
    kills: int = 3,
    sigterms: int = 2,
    redis_restarts: int = 1,
    freezes: int = 1,
    latency_s: float = 0.3,
    ttl_s: float = 1.0,
    timeout_s: float = 30.0,
    progress: Progress | None = None,
) -> ChaosResult:
    """Run the fixed executor through one seeded schedule of faults; see the module docstring."""
    schedule = fault_schedule(seed, workers=workers, tasks=tasks, kills=kills, sigterms=sigterms,
                              redis_restarts=redis_restarts, freezes=freezes)
    if isinstance(latency_s, bool) or not isinstance(latency_s, (int, float)) or not 0 < latency_s <= 5:
        raise ValueError(f"latency_s must be a number of seconds in (0, 5], got {latency_s!r}")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s <= 0:
        raise ValueError(f"timeout_s must be a positive number of seconds, got {timeout_s!r}")
    say = progress or (lambda fraction, message: None)
    say(0.0, "starting a Redis server with AOF persistence")
    server = await asyncio.to_thread(EmbeddedRedis.start, None, AOF_ARGS)
    target = RedisTarget(server.url, "chaos:", server)
    client = target.async_client()
    store = Store(client, target)
    stop = asyncio.Event()
    recovery: asyncio.Task[Any] | None = None
    group = ProcessGroup(target)
    fleet: _Fleet | None = None
    wakers: dict[int, asyncio.Task[float]] = {}  # index in fired -> a frozen worker's wake-up
    try:
        args = ["--mode", "offload", "--ttl", str(ttl_s), "--latency", str(latency_s), "--grace", "1"]
        fleet = _Fleet(group, args)
        say(0.0, f"starting {workers} worker processes")
        await fleet.start(workers)
        docs = [f"doc{i}" for i in range(1, (tasks + TASKS_PER_DOC - 1) // TASKS_PER_DOC + 1)]
        t0 = time.monotonic()
        recovery = asyncio.create_task(recovery_loop(target, stop, ttl_s=ttl_s, scan_s=0.1))
        for i, d in enumerate(docs):
            await store.create_doc(d, min(TASKS_PER_DOC, tasks - i * TASKS_PER_DOC))
        all_tasks = [task_id(d, n) for i, d in enumerate(docs)
                     for n in range(1, min(TASKS_PER_DOC, tasks - i * TASKS_PER_DOC) + 1)]
        pending, fired, timeline = list(schedule), [], []
        seen_done: set[str] = set()
        regressed: set[str] = set()
        done = 0
        while time.monotonic() - t0 < timeout_s:
            try:
                done, states = await _done_count(store, docs)
            except (RedisConnectionError, RedisTimeoutError):
                await asyncio.sleep(0.05)  # the server is restarting; so is our connection
                continue
            now = time.monotonic() - t0
            timeline.append((now, done))
            seen_done |= {d for d, s in states.items() if s == DONE}
            regressed |= {d for d in seen_done if states[d] != DONE}
            while pending and pending[0].after_done <= done:
                fault = pending.pop(0)
                if fault.kind == "freeze":
                    old, new, task, epoch = await fleet.freeze(fault.slot, store, all_tasks)
                    if task:
                        wakers[len(fired)] = asyncio.create_task(
                            _wake_after_takeover(fleet.frozen[-1], store, task, epoch, 4 * ttl_s + 5))
                    fired.append(Fired(fault, now, old, new, task=task))
                else:
                    fired.append(await _fire(fault, fleet, server, now, say))
            await fleet.replace_crashed()
            say(done / tasks, f"{done}/{tasks} tasks done, {len(fired)}/{len(schedule)} faults fired")
            if done >= tasks and not pending and all(w.done() for w in wakers.values()):
                break
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        for index, waker in wakers.items():
            fired[index] = dataclasses.replace(fired[index], seconds=await waker)
        say(min(1.0, done / tasks), "stopping the workers (SIGTERM) and counting")
        live = [p for p in [*fleet.slots, *fleet.frozen] if p.alive]
        for proc in live:
            proc.send(signal.SIGTERM)
        await asyncio.gather(*(p.wait_exit(5) for p in [*live, *fleet.stopped]))
        say(1.0, "waiting for recovery to rule on the workers killed last")
        await _until_every_worker_left(store, 2 * ttl_s + 1)
        stop.set()
        await recovery
        events = await execlog.read(client, target)
        final_done, states = await _done_count(store, docs)
        task_states = {t: (await store.task(t)).state for t in all_tasks}
        regressed |= {d for d in seen_done if states[d] != DONE}
        signalled = {f.worker for f in fired if f.fault.kind == "sigterm"}
        codes = {p.id: p.popen.returncode for p in fleet.stopped if p.id in signalled}
        executions = dict(sorted(execlog.executions(events).items()))
        say(1.0, "done")
        return ChaosResult(
            seed=seed, workers=workers, tasks=tasks, schedule=schedule, fired=fired,
            tasks_done=sum(1 for s in task_states.values() if s == DONE), effective_completions=final_done,
            duplicate_executions=execlog.duplicate_executions(events),
            stale_completions=sum(1 for e in events if e.kind == "finish" and e.get("outcome") == "stale"),
            done_to_fail=len(regressed),
            lost=[t for t, s in task_states.items() if s != DONE],
            dead_verdicts=sum(1 for e in events if e.kind == "dead"), crashed=fleet.crashed,
            sigterm_exit_codes=codes, seconds=elapsed, timeline=timeline, executions=executions,
            server_pid=server.server_pid, crash_logs=fleet.crash_logs)
    finally:
        stop.set()
        for waker in wakers.values():
            waker.cancel()
        if fleet is not None:
            fleet.wake_all()  # a stopped process would not act on the SIGTERM below until woken
        if recovery is not None and not recovery.done():
            recovery.cancel()
        group.close()
        await client.aclose()
        await asyncio.to_thread(server.stop)


async def _fire(fault: Fault, fleet: _Fleet, server: EmbeddedRedis, now: float, say: Progress) -> Fired:
    if fault.kind == "redis-restart":
        began = time.monotonic()
        await asyncio.to_thread(server.restart)
        return Fired(fault, now, seconds=time.monotonic() - began)
    sig = signal.SIGKILL if fault.kind == "kill" else signal.SIGTERM
    old, new = await fleet.hit(fault.slot, sig)
    return Fired(fault, now, old, new)
