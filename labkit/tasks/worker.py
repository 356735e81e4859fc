"""The worker process: ``python -m labkit.tasks.worker --id w1 --mode same-loop ...`` (the lab forks it: :mod:`.procs`).

It claims tasks from the store's queue (:mod:`labkit.tasks.store`), calls the
model for each through the real ``openai`` SDK (:mod:`labkit.model.sdk_model`)
on the lab's local OpenAI-compatible endpoint (:mod:`labkit.model.endpoint`,
shared with the process that started the worker), completes it with the fenced
completion (:func:`labkit.tasks.completion.complete_fenced`) and beats a heartbeat
with a TTL (:mod:`labkit.tasks.heartbeat`). Every step lands in the execution log
(:mod:`labkit.tasks.execlog`), so a task that ran twice shows up as two ``ran`` events.

Two independent choices make the rule-4 modes (``--mode`` picks a pair):

=============  ============================  ==============================
mode           model call (``--work``)       heartbeat (``--heartbeat``)
=============  ============================  ==============================
same-loop      sync ``OpenAI`` on the loop    asyncio task, async client (bug)
sync-client    sync ``OpenAI`` on the loop    asyncio task, sync client (bug)
offload        sync call in a thread          asyncio task, async client
async-client   ``await`` ``AsyncOpenAI``      asyncio task, async client
thread         sync ``OpenAI`` on the loop    its own thread, sync client
=============  ============================  ==============================

Rule 5 (``--on-signal graceful``, the default): SIGTERM and SIGINT set a stop
event through ``loop.add_signal_handler``. The worker stops claiming; its
in-flight task gets until ``--grace`` seconds after the signal to finish, else
it is released atomically (fenced on its epoch) back to the head of the queue;
a second signal releases it at once. Heartbeat and recovery loops exit, the
worker deregisters, and the process exits 0. ``--on-signal die`` installs no
handler: the process just dies and its task stays RUNNING until recovery.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import importlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ..model import llm
from .completion import Outcome, complete_fenced
from .execlog import record
from .heartbeat import CustomHeartbeat, Heartbeat, beat_async, make_heartbeat, ttl_ms_of
from ..redis.target import redis_target
from .recovery import deregister, recovery_loop, release
from .store import Claim, Store, check_id

SYSTEM_MSG = "You summarise one ingested document chunk."
WORKS = ("blocking", "offload", "async")
PRESETS: dict[str, tuple[str, str]] = {
    "same-loop": ("blocking", "loop"),
    "sync-client": ("blocking", "loop-sync"),
    "offload": ("offload", "loop"),
    "async-client": ("async", "loop"),
    "thread": ("blocking", "thread"),
}
BROKEN_MODES = ("same-loop", "sync-client")
FIXED_MODES = ("offload", "async-client", "thread")
PARENT_ENV = "LABKIT_PARENT_PID"


def history_for(task: str) -> list[str]:
    """What the worker asks the model about a task (the checkers recompute the reply)."""
    return [f"summarise {task}"]


@dataclass
class WorkerConfig:
    """Everything that makes one worker behave the way a demo or check needs."""

    id: str
    work: str = "blocking"
    heartbeat: str = "loop"
    ttl_s: float = 1.0
    interval_s: float = 0.0  # 0: a third of the TTL
    latency_s: float = 0.5
    slow_calls: int = 0  # this worker's first N model calls take slow_latency_s (a provider hiccup)
    slow_latency_s: float = 0.0
    grace_s: float = 2.0
    on_signal: str = "graceful"  # graceful | die | none (a learner's main installs them)
    max_tasks: int = 0
    exit_when_idle: bool = False
    poll_s: float = 0.05
    recover: bool = False
    scan_s: float = 0.1
    handler: str = ""  # module:function, an async def handle(system_msg, history, conf) -> str
    start_heartbeat: str = ""  # module:function, start_heartbeat(beat, interval_s) -> stop
    main: str = ""  # module:function, async def run_worker(worker) -> None
    install: str = ""  # module:function, install_stop_handlers(loop, stop) -> None

    def __post_init__(self) -> None:
        check_id("worker", self.id)
        if self.work not in WORKS:
            raise ValueError(f"work must be one of {WORKS}, got {self.work!r}")
        ttl_ms_of(self.ttl_s)
        if not self.interval_s:
            self.interval_s = self.ttl_s / 3
        if self.on_signal not in ("graceful", "die", "none"):
            raise ValueError(f"on_signal must be graceful, die or none, got {self.on_signal!r}")


def load(spec: str) -> Any:
    """Import ``module:attribute`` (how learner code reaches a worker process)."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ValueError(f"expected module:function, got {spec!r}")
    return getattr(importlib.import_module(module), attr)


def _call_in_daemon_thread(fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
    """Like ``asyncio.to_thread``, but the thread never keeps the process alive at exit.

    A graceful shutdown may release a task whose call has not returned; Python
    cannot stop that thread, and the default executor's threads are joined at
    exit, so the worker would hang until the call ends. A daemon thread is not.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    def run() -> None:
        try:
            value, error = fn(*args), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            value, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the loop has closed: the worker already left
            pass

    threading.Thread(target=run, name="labkit-offload", daemon=True).start()
    return future


@dataclass
class Worker:
    """One worker: claim, execute, release; the building blocks a ``run_worker`` uses.

    ``stop`` is set by the first SIGTERM/SIGINT, ``hurry`` by a second one.
    """

    config: WorkerConfig
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    hurry: asyncio.Event = field(default_factory=asyncio.Event)
    completed: int = 0
    calls: int = 0
    stopped_at: float | None = None

    def __post_init__(self) -> None:
        self.id = self.config.id
        # No one-shot PING: a replacement started while Redis restarts must wait for it, so the
        # first contact is start()'s beat through the patient client, which rides out a restart.
        self.target = redis_target(check=False)
        self.client = self.target.async_client(patient=True)
        self.store = Store(self.client, self.target)
        self.grace_s = self.config.grace_s
        self._heartbeat: Heartbeat | None = None
        self._recovery: asyncio.Task[Any] | None = None
        self._signals: list[tuple[float, str]] = []
        self._handler: Callable[..., Any] | None = load(self.config.handler) if self.config.handler else None
        # The openai SDK takes most of a second to import: pay for it here, before the worker says it is
        # ready, not on its first call while the heartbeat waits (and not in every `import labkit`).
        self._sdk = importlib.import_module("labkit.model.sdk_model")

    # -- life cycle -----------------------------------------------------------
    async def start(self) -> None:
        """Register (one beat now), start the heartbeat (and recovery loop), say ready."""
        c = self.config
        self._sdk.prepare()  # the model clients, made before the first beat (their first use costs CPU)
        await beat_async(self.client, self.target, self.id, ttl_ms_of(c.ttl_s))
        await self.client.hset(self.target.key("worker", self.id), mapping={
            "pid": os.getpid(), "work": c.work, "heartbeat": c.heartbeat or "custom"})
        await record(self.client, self.target, "start", self.id, pid=os.getpid(), work=c.work, heartbeat=c.heartbeat)
        if c.start_heartbeat:
            self._heartbeat = CustomHeartbeat(self.target, self.id, c.ttl_s, c.interval_s, load(c.start_heartbeat))
        else:
            self._heartbeat = make_heartbeat(c.heartbeat, self.target, self.id, c.ttl_s, c.interval_s)
        await self._heartbeat.start()
        if c.recover:
            self._recovery = asyncio.create_task(recovery_loop(
                self.target, self.stop, ttl_s=c.ttl_s, scan_s=c.scan_s, me=self.id))
        print("ready", flush=True)

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT set the stop event (first) or the hurry event (second)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal, sig)

    def on_signal(self, sig: int) -> None:
        self._signals.append((time.time(), signal.Signals(sig).name))
        if not self.stop.is_set():
            self.stopped_at = asyncio.get_running_loop().time()
            self.stop.set()
        else:
            self.hurry.set()

    async def close(self) -> None:
        """Stop the heartbeat and recovery loops, deregister, log the exit."""
        self.stop.set()
        if self._heartbeat is not None:
            await self._heartbeat.stop()
        if self._recovery is not None:
            await self._recovery
        for when, name in self._signals:
            await record(self.client, self.target, "signal", self.id, t=when, signal=name)
        left = await deregister(self.store, self.id)
        await record(self.client, self.target, "exit", self.id, clean=left, completed=self.completed)
        await self.client.aclose()

    # -- the work -------------------------------------------------------------
    async def claim(self) -> Claim | None:
        """The next task, or ``None`` when the queue is empty or we are stopping."""
        if self.stop.is_set():
            return None
        got = await self.store.claim(self.id)
        if got is not None:
            await record(self.client, self.target, "claim", self.id, task=got.task, epoch=got.epoch)
        return got

    async def call_model(self, task: str) -> str:
        slow = self.calls < self.config.slow_calls
        self.calls += 1
        conf = {"latency_s": self.config.slow_latency_s if slow else self.config.latency_s}
        history = history_for(task)
        if self._handler is not None:
            reply = self._handler(SYSTEM_MSG, history, conf)
            return await reply if asyncio.iscoroutine(reply) else reply
        if self.config.work == "blocking":
            return self._sdk.openai_chat(SYSTEM_MSG, history, conf)  # labkit: ignore[R1] - holds the loop: the rule-4 bug
        if self.config.work == "offload":
            return await _call_in_daemon_thread(self._sdk.openai_chat, SYSTEM_MSG, history, conf)
        return await self._sdk.openai_achat(SYSTEM_MSG, history, conf)

    async def execute(self, claim: Claim) -> Outcome:
        """Run the task and complete it under our epoch; ``STALE`` if it was taken from us."""
        began = time.time()
        reply = await self.call_model(claim.task)
        # A learner's handler: how often the stand-in model answered this task in this process (a check adds
        # the local server's count, so a reply made up without asking the model is seen for what it is)
        asked = {"asked_here": llm.served(SYSTEM_MSG, history_for(claim.task))} if self._handler else {}
        await record(self.client, self.target, "ran", self.id, task=claim.task, epoch=claim.epoch,
                     began=began, reply=str(reply)[:200], **asked)
        outcome = await complete_fenced(self.store, claim.task, claim.epoch)
        await record(self.client, self.target, "finish", self.id, task=claim.task, epoch=claim.epoch,
                     outcome=outcome.value)
        if outcome:
            self.completed += 1
        return outcome

    async def release(self, claim: Claim) -> bool:
        """Give the task back (atomically, only if still ours); logged either way."""
        done = await release(self.store, claim)
        await record(self.client, self.target, "release", self.id, task=claim.task, epoch=claim.epoch, released=done)
        return done

    def grace_left(self) -> float:
        if self.stopped_at is None:
            return self.grace_s
        return max(0.0, self.stopped_at + self.grace_s - asyncio.get_running_loop().time())

    async def finish_or_release(self, claim: Claim) -> None:
        """Run a claimed task; if a stop comes first, let it finish within the grace, else release it."""
        job = asyncio.ensure_future(self.execute(claim))
        stopping = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not job.done():
            hurry = asyncio.ensure_future(self.hurry.wait())
            await asyncio.wait({job, hurry}, timeout=self.grace_left(), return_when=asyncio.FIRST_COMPLETED)
            hurry.cancel()
        if job.done():
            job.result()
            return
        await self.release(claim)  # fenced: a no-op if the completion got there first
        job.cancel()  # an offloaded call runs on in its daemon thread; its result is dropped
        try:
            await job
        except asyncio.CancelledError:
            pass

    async def run(self) -> None:
        """The graceful main loop: claim until stopped (or idle/limit), never abandon a claim."""
        c = self.config
        while not self.stop.is_set():
            if c.max_tasks and self.completed >= c.max_tasks:
                break
            claim = await self.claim()
            if claim is None:
                if c.exit_when_idle:
                    break
                try:
                    await asyncio.wait_for(self.stop.wait(), timeout=c.poll_s)
                except asyncio.TimeoutError:
                    pass
                continue
            await self.finish_or_release(claim)


def _die_with_parent() -> None:
    """Linux: if the process that started us dies (a kernel, a test run), so do we."""
    parent = os.environ.get(PARENT_ENV)
    if not parent or not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != int(parent):  # the parent died before prctl took effect
        os._exit(1)


async def amain(config: WorkerConfig) -> int:
    worker = Worker(config)
    main: Callable[[Worker], Awaitable[None]] = load(config.main) if config.main else Worker.run
    if config.on_signal == "graceful":
        worker.install_signal_handlers()
    elif config.install:
        load(config.install)(asyncio.get_running_loop(), worker.stop)
    await worker.start()
    try:
        await main(worker)
    finally:
        await worker.close()
    return 0


def parse_args(argv: list[str] | None = None) -> WorkerConfig:
    p = argparse.ArgumentParser(prog="python -m labkit.tasks.worker", description=__doc__.split("\n\n")[0])
    p.add_argument("--id", required=True, help="worker id (letters, digits, _ . -)")
    p.add_argument("--mode", choices=sorted(PRESETS), help="preset for --work and --heartbeat")
    p.add_argument("--work", choices=WORKS, help="how the model call runs (default blocking)")
    p.add_argument("--heartbeat", choices=("loop", "loop-sync", "thread"), help="where the heartbeat runs")
    p.add_argument("--ttl", type=float, default=1.0, help="heartbeat TTL in seconds")
    p.add_argument("--interval", type=float, default=0.0, help="beat interval (default TTL/3)")
    p.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    p.add_argument("--slow-calls", type=int, default=0, help="how many first calls are slow")
    p.add_argument("--slow-latency", type=float, default=0.0, help="seconds per slow call")
    p.add_argument("--grace", type=float, default=2.0, help="seconds after SIGTERM for the in-flight task")
    p.add_argument("--on-signal", choices=("graceful", "die", "none"), default="graceful")
    p.add_argument("--max-tasks", type=int, default=0)
    p.add_argument("--exit-when-idle", action="store_true")
    p.add_argument("--recover", action="store_true", help="also run a recovery loop in this worker")
    p.add_argument("--scan", type=float, default=0.1, help="recovery scan interval in seconds")
    p.add_argument("--handler", default="", help="module:function for the model call")
    p.add_argument("--start-heartbeat", default="", help="module:function that starts the heartbeat")
    p.add_argument("--main", default="", help="module:function, async def run_worker(worker)")
    p.add_argument("--install", default="", help="module:function(loop, stop) installing signal handlers")
    a = p.parse_args(argv)
    work, heartbeat = PRESETS.get(a.mode or "", ("blocking", "loop"))
    return WorkerConfig(
        id=a.id, work=a.work or work, heartbeat=a.heartbeat or heartbeat, ttl_s=a.ttl, interval_s=a.interval,
        latency_s=a.latency, slow_calls=a.slow_calls, slow_latency_s=a.slow_latency, grace_s=a.grace, on_signal=a.on_signal, max_tasks=a.max_tasks,
        exit_when_idle=a.exit_when_idle, recover=a.recover, scan_s=a.scan, handler=a.handler,
        start_heartbeat=a.start_heartbeat, main=a.main, install=a.install)


def main(argv: list[str] | None = None) -> int:
    _die_with_parent()
    config = parse_args(argv)
    return asyncio.run(amain(config))


if __name__ == "__main__":
    sys.exit(main())
