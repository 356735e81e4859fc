"""The recovery loop: declare a worker dead when its heartbeat lapses, requeue its tasks.

Keys (under the lab prefix), next to the store's (:mod:`labkit.tasks.store`)::

    workers         set   ids of workers that have registered and not deregistered
    hb:<worker>     str   last beat's wall time; expires ``ttl`` after that beat (PX)
    worker:<worker> hash  pid, mode, last_beat, state (alive / dead / stopped)

Every decision that changes state is one Lua script, so it is atomic with the
check it depends on (rule 3): the "is the heartbeat gone?" test, the search for
the worker's RUNNING tasks and their requeue (with an epoch bump, the fencing
token) happen in one step. A worker that beats again a millisecond before the
script runs is simply still alive; a task it finished a millisecond before is
DONE and left alone; a zombie that finishes after the requeue gets ``stale``
from :func:`labkit.tasks.completion.complete_fenced` and writes nothing.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .execlog import events_key, make_event
from ..redis.target import RedisTarget
from .store import Claim, Store, check_id

# KEYS: hb, workers, running docs, queue, worker hash, events.  ARGV: prefix, worker, now, event.
# Returns false when the worker is alive (or already left), else {last_beat, requeued task ids...}.
# The verdict's "dead" event is appended in the same step: a reply lost to a server restart
# must not leave a requeue that the execution log never heard of. ARGV[4] is the event as
# execlog.make_event writes it; the script adds what only it knows (requeued, last_beat, latency_s).
_DECLARE_DEAD = """
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then return false end
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local requeued = {}
for _, doc in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  for _, tid in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'doc:' .. doc .. ':pending')) do
    local tkey = ARGV[1] .. 'task:' .. tid
    local t = redis.call('HMGET', tkey, 'state', 'worker')
    if t[1] == 'RUNNING' and t[2] == ARGV[2] then
      redis.call('HINCRBY', tkey, 'epoch', 1)
      redis.call('HSET', tkey, 'state', 'QUEUED', 'worker', '')
      redis.call('RPUSH', KEYS[4], tid)
      redis.call('HINCRBY', ARGV[1] .. 'doc:' .. doc, 'epoch', 1)
      table.insert(requeued, tid)
    end
  end
end
redis.call('SREM', KEYS[2], ARGV[2])
local last = redis.call('HGET', KEYS[5], 'last_beat') or '0'
redis.call('HSET', KEYS[5], 'state', 'dead', 'dead_at', ARGV[3])
local ids = {}
for i, tid in ipairs(requeued) do ids[i] = cjson.encode(tid) end
local lastn = tonumber(last) or 0
redis.call('RPUSH', KEYS[6], string.sub(ARGV[4], 1, -2) .. ', "requeued": [' .. table.concat(ids, ', ') .. ']'
  .. ', "last_beat": ' .. string.format('%.6f', lastn)
  .. ', "latency_s": ' .. string.format('%.6f', tonumber(ARGV[3]) - lastn) .. '}')
return {last, unpack(requeued)}
"""

# KEYS: task, doc, queue.  ARGV: task id, epoch, worker.
# Hand a claimed task back (front of the queue) only if it is still ours under our epoch.
_RELEASE = """
local t = redis.call('HMGET', KEYS[1], 'state', 'epoch', 'worker')
if t[1] ~= 'RUNNING' or t[2] ~= ARGV[2] or t[3] ~= ARGV[3] then return 0 end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'state', 'QUEUED', 'worker', '')
redis.call('LPUSH', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'epoch', 1)
return 1
"""

# KEYS: hb, workers, running docs, worker hash.  ARGV: prefix, worker.
# Leave cleanly only if we hold no RUNNING task; otherwise let the lease lapse so
# the recovery loop finds what we left behind.
_DEREGISTER = """
for _, doc in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  for _, tid in ipairs(redis.call('SMEMBERS', ARGV[1] .. 'doc:' .. doc .. ':pending')) do
    local t = redis.call('HMGET', ARGV[1] .. 'task:' .. tid, 'state', 'worker')
    if t[1] == 'RUNNING' and t[2] == ARGV[2] then return 0 end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[4], 'state', 'stopped')
return 1
"""


def workers_key(target: RedisTarget) -> str:
    return target.key("workers")


def hb_key(target: RedisTarget, worker: str) -> str:
    return target.key("hb", check_id("worker", worker))


def worker_key(target: RedisTarget, worker: str) -> str:
    return target.key("worker", check_id("worker", worker))


async def declare_dead(store: Store, worker: str, ttl_s: float, me: str = "recovery") -> Verdict | None:
    """Atomically: if ``worker``'s heartbeat is gone, requeue its RUNNING tasks and log the verdict.

    Returns ``None`` if it is alive (or already declared).
    """
    t = store.target
    keys = (hb_key(t, worker), workers_key(t), store.running_key, store.queue_key, worker_key(t, worker),
            events_key(t))
    now = time.time()
    event = make_event("dead", worker, t=now, by=me)
    got = await store.client.eval(_DECLARE_DEAD, len(keys), *keys, t.prefix, worker, repr(now), event)
    if not got:
        return None
    return Verdict(worker, now, float(got[0]), tuple(str(x) for x in got[1:]), ttl_s)


async def release(store: Store, claim: Claim) -> bool:
    """Hand a claimed task back to the head of the queue, fenced on our epoch.

    False if it is no longer ours (recovery took it over, or it finished).
    """
    keys = (store.task_key(claim.task), store.doc_key(claim.doc), store.queue_key)
    return bool(await store.client.eval(_RELEASE, len(keys), *keys, claim.task, claim.epoch, claim.worker))


async def deregister(store: Store, worker: str) -> bool:
    """Leave the worker set if we hold no RUNNING task (else the lease lapses and recovery acts)."""
    t = store.target
    keys = (hb_key(t, worker), workers_key(t), store.running_key, worker_key(t, worker))
    return bool(await store.client.eval(_DEREGISTER, len(keys), *keys, t.prefix, worker))


@dataclass(frozen=True)
class Verdict:
    """One "declared dead": when, how long after the lease lapsed, what was requeued."""

    worker: str
    at: float
    last_beat: float
    requeued: tuple[str, ...]
    ttl_s: float

    @property
    def since_last_beat_s(self) -> float:
        return self.at - self.last_beat

    @property
    def after_expiry_s(self) -> float:
        """Detection delay after the lease actually lapsed: at most one scan interval."""
        return self.since_last_beat_s - self.ttl_s


@dataclass
class RecoveryStats:
    scans: int = 0
    verdicts: list[Verdict] = field(default_factory=list)
    unreachable: int = 0  # scans skipped because the server was away (e.g. restarting)


def check_timing(ttl_s: float, scan_s: float) -> None:
    for name, value in (("ttl_s", ttl_s), ("scan_s", scan_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 600:
            raise ValueError(f"{name} must be a number of seconds in (0, 600], got {value!r}")


async def scan_once(store: Store, ttl_s: float, me: str = "recovery") -> list[Verdict]:
    """One pass: check every registered worker, requeue the tasks of the dead ones."""
    verdicts = []
    for worker in sorted(await store.client.smembers(workers_key(store.target))):
        verdict = await declare_dead(store, worker, ttl_s, me)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


async def recovery_loop(
    target: RedisTarget,
    stop: asyncio.Event,
    *,
    ttl_s: float = 1.0,
    scan_s: float = 0.1,
    me: str = "recovery",
    on_verdict: Callable[[Verdict], Any] | None = None,
) -> RecoveryStats:
    """Scan every ``scan_s`` until ``stop`` is set; returns what it declared.

    Detection takes at most ``ttl_s + scan_s`` after a worker's last beat. Uses
    the async client only, so it never holds its loop (rule 4); it waits on the
    stop event instead of sleeping, so it exits at once when asked (rule 5).
    """
    check_timing(ttl_s, scan_s)
    stats = RecoveryStats()
    client = target.async_client()
    store = Store(client, target)
    try:
        while not stop.is_set():
            try:
                verdicts = await scan_once(store, ttl_s, me)
            except (RedisConnectionError, RedisTimeoutError):
                stats.unreachable += 1  # the server is restarting: try again at the next scan
                verdicts = []
            for verdict in verdicts:
                stats.verdicts.append(verdict)
                if on_verdict is not None:
                    on_verdict(verdict)
            stats.scans += 1
            try:
                await asyncio.wait_for(stop.wait(), timeout=scan_s)
            except asyncio.TimeoutError:
                pass
    finally:
        await client.aclose()
    return stats
