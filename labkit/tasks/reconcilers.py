"""Crash reconcilers: find orphaned RUNNING documents and recover them.

Each one implements the incident's policy (DESIGN.md, rule 3): for every
RUNNING document whose worker heartbeat has lapsed, requeue its orphaned
(RUNNING) tasks; if it has no incomplete task left, it is stuck, so mark it FAIL.

* :func:`reconcile_naive` - the incident: look up, decide, write; each its own
  command. A worker finishing between the look-ups turns DONE into FAIL.
* :func:`reconcile_recheck` - re-reads the state right before each write. The
  window shrinks to the gap between the re-check and the write; it is still there.
* :func:`reconcile_watch` - WATCH the keys the decision depends on, decide, and
  write in MULTI/EXEC; retry on WatchError. The decision and write are atomic.
* :func:`reconcile_lua` - each write is a Lua compare-and-set that re-checks its
  condition on the server, in the same atomic step.
* :func:`reconcile_epoch` - reads the document's version (epoch) with one
  snapshot and writes only if the version has not moved (Lua CAS). Pairs with
  :func:`labkit.tasks.completion.complete_fenced`, which bumps that version.

All take a :class:`~labkit.tasks.store.Store` and use its ``redis.asyncio`` client only.
"""

from __future__ import annotations

# labkit: ignore-file[R3] reconcile_naive and reconcile_recheck are the racy reconcilers the lab teaches with

from typing import Awaitable, Callable

from redis.exceptions import WatchError

from .store import FAIL, RUNNING, Store

Reconciler = Callable[[Store], Awaitable[None]]


async def reconcile_naive(store: Store) -> None:
    """The incident's reconciler: check, then act, in separate commands (racy)."""
    for doc in await store.orphaned_docs():
        tasks = await store.incomplete_tasks(doc)
        if not tasks:
            async with store.client.pipeline(transaction=True) as pipe:
                store.add_finish(pipe, doc, FAIL)
                await pipe.execute()
            continue
        for tid, state in tasks.items():
            if state == RUNNING:
                async with store.client.pipeline(transaction=True) as pipe:
                    store.add_requeue(pipe, doc, tid)
                    await pipe.execute()


async def reconcile_recheck(store: Store) -> None:
    """Naive, plus a re-check right before each write: a narrower window, not a closed one."""
    for doc in await store.orphaned_docs():
        tasks = await store.incomplete_tasks(doc)
        if not tasks:
            async with store.client.pipeline(transaction=True) as pipe:
                pipe.hget(store.doc_key(doc), "state")
                pipe.scard(store.pending_key(doc))
                state, left = await pipe.execute()
            if state == RUNNING and left == 0:  # still stuck... as of one command ago
                async with store.client.pipeline(transaction=True) as pipe:
                    store.add_finish(pipe, doc, FAIL)
                    await pipe.execute()
            continue
        for tid, state in tasks.items():
            if state == RUNNING and await store.client.hget(store.task_key(tid), "state") == RUNNING:
                async with store.client.pipeline(transaction=True) as pipe:
                    store.add_requeue(pipe, doc, tid)
                    await pipe.execute()


async def reconcile_watch(store: Store, max_tries: int = 50) -> None:
    """Optimistic transaction: WATCH what the decision reads, write in MULTI/EXEC, retry."""
    for doc in await store.orphaned_docs():
        dkey, pkey, lkey = store.doc_key(doc), store.pending_key(doc), store.lease_key(doc)
        async with store.client.pipeline(transaction=True) as pipe:
            for _ in range(max_tries):
                try:
                    await pipe.watch(dkey, pkey, lkey)
                    if await pipe.hget(dkey, "state") != RUNNING or await pipe.exists(lkey):
                        await pipe.reset()
                        break
                    pending = sorted(await pipe.smembers(pkey))
                    if pending:
                        await pipe.watch(*(store.task_key(t) for t in pending))
                    orphaned = [t for t in pending if await pipe.hget(store.task_key(t), "state") == RUNNING]
                    if pending and not orphaned:
                        await pipe.reset()
                        break
                    pipe.multi()
                    if pending:
                        for tid in orphaned:
                            store.add_requeue(pipe, doc, tid)
                    else:
                        store.add_finish(pipe, doc, FAIL)
                    await pipe.execute()  # raises WatchError if any watched key changed
                    break
                except WatchError:
                    continue
            else:
                raise RuntimeError(f"reconcile_watch gave up on {doc} after {max_tries} WatchErrors")


# KEYS: doc, pending, lease, running.  ARGV: doc id.
_FAIL_IF_STUCK = """
if redis.call('HGET', KEYS[1], 'state') ~= 'RUNNING' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('HSET', KEYS[1], 'state', 'FAIL')
redis.call('SREM', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
return 1
"""

# KEYS: task, doc, lease, queue.  ARGV: task id.
_REQUEUE_IF_ORPHANED = """
if redis.call('HGET', KEYS[2], 'state') ~= 'RUNNING' then return 0 end
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'state') ~= 'RUNNING' then return 0 end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('HSET', KEYS[1], 'state', 'QUEUED', 'worker', '')
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'epoch', 1)
return 1
"""


async def reconcile_lua(store: Store) -> None:
    """Each write is a server-side compare-and-set: the condition is re-checked atomically."""
    for doc in await store.orphaned_docs():
        tasks = await store.incomplete_tasks(doc)
        if not tasks:
            keys = (store.doc_key(doc), store.pending_key(doc), store.lease_key(doc), store.running_key)
            await store.client.eval(_FAIL_IF_STUCK, len(keys), *keys, doc)
            continue
        for tid, state in tasks.items():
            if state == RUNNING:
                keys = (store.task_key(tid), store.doc_key(doc), store.lease_key(doc), store.queue_key)
                await store.client.eval(_REQUEUE_IF_ORPHANED, len(keys), *keys, tid)


# KEYS: doc, lease, running, queue.  ARGV: prefix, seen epoch, action, doc id, task ids...
_APPLY_IF_EPOCH = """
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[2] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if ARGV[3] == 'fail' then
  redis.call('HSET', KEYS[1], 'state', 'FAIL')
  redis.call('SREM', KEYS[3], ARGV[4])
else
  for i = 5, #ARGV do
    local tkey = ARGV[1] .. 'task:' .. ARGV[i]
    redis.call('HINCRBY', tkey, 'epoch', 1)
    redis.call('HSET', tkey, 'state', 'QUEUED', 'worker', '')
    redis.call('RPUSH', KEYS[4], ARGV[i])
  end
end
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
return 1
"""


async def reconcile_epoch(store: Store, max_tries: int = 20) -> None:
    """Decide from a versioned snapshot; write only if the document's epoch has not moved.

    Safe only together with workers that bump the epoch on every change
    (:func:`labkit.tasks.completion.complete_fenced`).
    """
    for doc in await store.orphaned_docs():
        dkey, pkey, lkey = store.doc_key(doc), store.pending_key(doc), store.lease_key(doc)
        for _ in range(max_tries):
            async with store.client.pipeline(transaction=True) as pipe:
                pipe.hmget(dkey, "state", "epoch")
                pipe.exists(lkey)
                pipe.smembers(pkey)
                (state, epoch), leased, pending = await pipe.execute()
            if state != RUNNING or leased:
                break
            orphaned = [t for t in sorted(pending) if await store.client.hget(store.task_key(t), "state") == RUNNING]
            if pending and not orphaned:
                break
            action = "requeue" if pending else "fail"
            keys = (dkey, lkey, store.running_key, store.queue_key)
            if await store.client.eval(_APPLY_IF_EPOCH, len(keys), *keys, store.target.prefix, epoch, action, doc, *orphaned):
                break
        else:
            raise RuntimeError(f"reconcile_epoch gave up on {doc}: its epoch kept moving")


RECONCILERS: dict[str, Reconciler] = {
    "naive": reconcile_naive,
    "recheck": reconcile_recheck,
    "watch": reconcile_watch,
    "lua": reconcile_lua,
    "epoch": reconcile_epoch,
}
