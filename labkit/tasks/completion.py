"""Worker completion: finish a task and, when it was the last, mark its document DONE.

Three ways to write it, each with the signature ``complete(store, task_id, epoch)``
(``epoch`` is the fencing token the worker got when it claimed the task):

* :func:`complete_naive` - the incident's worker: one write finishes the task,
  a second write marks the document DONE. It ignores its epoch, so a *zombie*
  (a worker whose task was already handed to someone else) still completes it,
  and its blind DONE write can overwrite a FAIL.
* :func:`complete_fenced` - one Lua script: complete only if the task is still
  RUNNING under *this* epoch and the document is still RUNNING; mark DONE in
  the same atomic step.
* :func:`complete_watch` - the same guarantee with WATCH/MULTI/EXEC and a retry.
"""

from __future__ import annotations

import enum

from redis.exceptions import WatchError

from .store import DONE, RUNNING, Store, doc_of


class Outcome(enum.Enum):
    """What a completion did; truthy when this call completed the task."""

    STALE = "stale"          # the epoch moved (or the document is terminal): nothing written
    TASK_DONE = "task-done"  # task completed, others remain
    DOC_DONE = "doc-done"    # task completed and it was the last: document marked DONE

    def __bool__(self) -> bool:
        return self is not Outcome.STALE


async def complete_naive(store: Store, task_id: str, epoch: int) -> Outcome:
    """The incident's worker: two separate writes and no fencing (``epoch`` is ignored).

    It bumps the document's version like every writer here, but never checks one.
    """
    doc = doc_of(task_id)
    async with store.client.pipeline(transaction=True) as pipe:
        pipe.hset(store.task_key(task_id), "state", DONE)
        pipe.srem(store.pending_key(doc), task_id)
        pipe.hincrby(store.doc_key(doc), "done", 1)
        pipe.hincrby(store.doc_key(doc), "epoch", 1)  # every write bumps the version...
        pipe.scard(store.pending_key(doc))
        *_, remaining = await pipe.execute()
    if remaining:
        return Outcome.TASK_DONE
    async with store.client.pipeline(transaction=True) as pipe:
        store.add_finish(pipe, doc, DONE)
        await pipe.execute()
    return Outcome.DOC_DONE


# KEYS: task, doc, pending, running.  ARGV: task id, epoch, doc id.
_COMPLETE_FENCED = """
local t = redis.call('HMGET', KEYS[1], 'state', 'epoch')
if t[1] ~= 'RUNNING' or t[2] ~= ARGV[2] then return 'stale' end
if redis.call('HGET', KEYS[2], 'state') ~= 'RUNNING' then return 'stale' end
redis.call('HSET', KEYS[1], 'state', 'DONE')
redis.call('SREM', KEYS[3], ARGV[1])
redis.call('HINCRBY', KEYS[2], 'done', 1)
redis.call('HINCRBY', KEYS[2], 'epoch', 1)
if redis.call('SCARD', KEYS[3]) > 0 then return 'task-done' end
redis.call('HSET', KEYS[2], 'state', 'DONE')
redis.call('SREM', KEYS[4], ARGV[3])
return 'doc-done'
"""


async def complete_fenced(store: Store, task_id: str, epoch: int) -> Outcome:
    """Complete atomically, and only under the caller's own epoch (Lua compare-and-set)."""
    doc = doc_of(task_id)
    keys = (store.task_key(task_id), store.doc_key(doc), store.pending_key(doc), store.running_key)
    got = await store.client.eval(_COMPLETE_FENCED, len(keys), *keys, task_id, int(epoch), doc)
    return Outcome(got)


async def complete_watch(store: Store, task_id: str, epoch: int, max_tries: int = 50) -> Outcome:
    """The fenced completion as an optimistic transaction that retries on WatchError."""
    doc = doc_of(task_id)
    tkey, dkey, pkey = store.task_key(task_id), store.doc_key(doc), store.pending_key(doc)
    async with store.client.pipeline(transaction=True) as pipe:
        for _ in range(max_tries):
            try:
                await pipe.watch(tkey, dkey, pkey)
                state, current = await pipe.hmget(tkey, "state", "epoch")
                doc_state = await pipe.hget(dkey, "state")
                if state != RUNNING or str(current) != str(epoch) or doc_state != RUNNING:
                    await pipe.reset()
                    return Outcome.STALE
                last = await pipe.scard(pkey) == 1
                pipe.multi()
                pipe.hset(tkey, "state", DONE)
                pipe.srem(pkey, task_id)
                pipe.hincrby(dkey, "done", 1)
                pipe.hincrby(dkey, "epoch", 1)
                if last:
                    store.add_finish(pipe, doc, DONE)
                await pipe.execute()
                return Outcome.DOC_DONE if last else Outcome.TASK_DONE
            except WatchError:
                continue
    raise RuntimeError(f"complete_watch gave up on {task_id} after {max_tries} WatchErrors")
