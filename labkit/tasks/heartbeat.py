"""Heartbeats: a worker proves it is alive by renewing a key that expires after a TTL.

One beat is one atomic pipeline: renew ``hb:<worker>`` (PX = TTL), stay in the
``workers`` set, note the time, append a ``beat`` event. What differs between
the modes is *where the beating runs*, which is what rule 4 is about:

* ``loop`` - an asyncio task on the worker's loop, async client. Correct only
  if nothing else ever holds that loop; a blocking ``chat()`` starves it.
* ``loop-sync`` - the same task with the blocking Redis client: every beat
  itself holds the loop for a round trip, and it is starved just the same.
* ``thread`` - a dedicated thread with its own blocking client: it keeps
  beating while the loop is stuck in a sync call.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from typing import Any, Callable

from .execlog import events_key, make_event
from ..redis.target import RedisTarget
from .recovery import hb_key, worker_key, workers_key

MODES = ("loop", "loop-sync", "thread")


def _queue_beat(pipe: Any, target: RedisTarget, worker: str, ttl_ms: int) -> None:
    now = time.time()
    pipe.set(hb_key(target, worker), repr(now), px=ttl_ms)
    pipe.sadd(workers_key(target), worker)
    pipe.hset(worker_key(target, worker), mapping={"last_beat": repr(now), "state": "alive"})
    pipe.rpush(events_key(target), make_event("beat", worker, t=now))


def beat_sync(client: Any, target: RedisTarget, worker: str, ttl_ms: int) -> None:
    """One beat with a blocking client (holds the calling thread for a round trip)."""
    with client.pipeline(transaction=True) as pipe:
        _queue_beat(pipe, target, worker, ttl_ms)
        pipe.execute()


async def beat_async(client: Any, target: RedisTarget, worker: str, ttl_ms: int) -> None:
    """One beat with a ``redis.asyncio`` client."""
    async with client.pipeline(transaction=True) as pipe:
        _queue_beat(pipe, target, worker, ttl_ms)
        await pipe.execute()


def ttl_ms_of(ttl_s: float) -> int:
    if isinstance(ttl_s, bool) or not isinstance(ttl_s, (int, float)) or not 0.05 <= ttl_s <= 600:
        raise ValueError(f"ttl_s must be between 0.05 and 600 seconds, got {ttl_s!r}")
    return int(ttl_s * 1000)


class LoopHeartbeat:
    """Beats from an asyncio task on the current loop (``sync_client`` for the loop-sync mode)."""

    def __init__(self, target: RedisTarget, worker: str, ttl_s: float, interval_s: float,
                 sync_client: bool = False) -> None:
        self.target, self.worker, self.ttl_ms, self.interval_s = target, worker, ttl_ms_of(ttl_s), interval_s
        self.sync = sync_client
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        if self.sync:
            with self.target.sync_client(patient=True) as client:  # the wrong fix: every beat blocks the loop
                await self._beat_until_stopped(lambda: beat_sync(client, self.target, self.worker, self.ttl_ms))
        else:
            aclient = self.target.async_client(patient=True)
            try:
                await self._beat_until_stopped(lambda: beat_async(aclient, self.target, self.worker, self.ttl_ms))
            finally:
                await aclient.aclose()

    async def _beat_until_stopped(self, beat: Callable[[], Any]) -> None:
        while not self._stop.is_set():
            sent = beat()
            if inspect.isawaitable(sent):
                await sent
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)
            except asyncio.TimeoutError:
                pass

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"heartbeat-{self.worker}")

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


class ThreadHeartbeat:
    """Beats from its own daemon thread and blocking client: immune to a blocked loop."""

    def __init__(self, target: RedisTarget, worker: str, ttl_s: float, interval_s: float) -> None:
        self.target, self.worker, self.ttl_ms, self.interval_s = target, worker, ttl_ms_of(ttl_s), interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{worker}", daemon=True)

    def _run(self) -> None:
        with self.target.sync_client(patient=True) as client:
            while not self._stop.is_set():
                beat_sync(client, self.target, self.worker, self.ttl_ms)
                self._stop.wait(self.interval_s)

    async def start(self) -> None:
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.to_thread(self._thread.join, 5.0)


class CustomHeartbeat:
    """Runs a learner's ``start_heartbeat(beat, interval_s) -> stop`` (exercise 04.heartbeat-thread)."""

    def __init__(self, target: RedisTarget, worker: str, ttl_s: float, interval_s: float,
                 starter: Callable[[Callable[[], None], float], Callable[[], Any]]) -> None:
        self.target, self.worker, self.ttl_ms, self.interval_s = target, worker, ttl_ms_of(ttl_s), interval_s
        self.starter = starter
        self._client = target.sync_client(patient=True)
        self._stopper: Callable[[], Any] | None = None

    def beat(self) -> None:
        beat_sync(self._client, self.target, self.worker, self.ttl_ms)

    async def start(self) -> None:
        self._stopper = self.starter(self.beat, self.interval_s)
        if not callable(self._stopper):
            raise TypeError(f"start_heartbeat must return a function that stops it, got {self._stopper!r}")

    async def stop(self) -> None:
        """Call the learner's stop function, note when it returned, and stay a little longer: a heartbeat
        that ignores it shows up as beats after that note (a daemon thread would otherwise die unseen)."""
        if self._stopper is not None:
            result = self._stopper()
            if asyncio.iscoroutine(result):
                await result
            await asyncio.to_thread(self._client.rpush, events_key(self.target),
                                    make_event("heartbeat-stopped", self.worker, t=time.time()))
            # a little over one interval: a thread still beating beats once more, and the lease (three
            # intervals) has not lapsed meanwhile, so recovery does not take this still-living worker for dead
            await asyncio.sleep(1.2 * self.interval_s)


Heartbeat = LoopHeartbeat | ThreadHeartbeat | CustomHeartbeat


def make_heartbeat(mode: str, target: RedisTarget, worker: str, ttl_s: float, interval_s: float) -> Heartbeat:
    """The heartbeat for a mode name (see :data:`MODES`)."""
    if mode == "loop":
        return LoopHeartbeat(target, worker, ttl_s, interval_s)
    if mode == "loop-sync":
        return LoopHeartbeat(target, worker, ttl_s, interval_s, sync_client=True)
    if mode == "thread":
        return ThreadHeartbeat(target, worker, ttl_s, interval_s)
    raise ValueError(f"heartbeat mode must be one of {MODES}, got {mode!r}")
