"""The rule-3 checks accept every correct style and reject the plausible wrong answers."""

from __future__ import annotations

import pytest
from redis.exceptions import WatchError

from labkit.exercises.framework import check
from labkit.tasks.completion import complete_fenced, complete_naive, complete_watch
from labkit.tasks.reconcilers import reconcile_epoch, reconcile_lua, reconcile_naive, reconcile_recheck, reconcile_watch
from labkit.tasks.store import DONE, FAIL, RUNNING, doc_of


@pytest.fixture(autouse=True)
def plain_cards(monkeypatch):
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)


# --- learner-style answers, written differently from the lab's own ----------------------

STUCK_OR_REQUEUE = """
-- reconcile_doc
if redis.call('HGET', KEYS[1], 'state') ~= 'RUNNING' or redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local pending = redis.call('SMEMBERS', KEYS[2])
if #pending == 0 then
  redis.call('HSET', KEYS[1], 'state', 'FAIL')
  redis.call('SREM', KEYS[4], ARGV[2])
  return 1
end
for _, tid in ipairs(pending) do
  local tkey = ARGV[1] .. 'task:' .. tid
  if redis.call('HGET', tkey, 'state') == 'RUNNING' then
    redis.call('HINCRBY', tkey, 'epoch', 1)
    redis.call('HSET', tkey, 'state', 'QUEUED')
    redis.call('RPUSH', KEYS[5], tid)
  end
end
return 1
"""


async def whole_doc_in_one_script(store):
    """Lua via register_script (EVALSHA), deciding and writing the whole document at once."""
    script = store.client.register_script(STUCK_OR_REQUEUE)
    for doc in await store.client.smembers(store.running_key):
        keys = [store.doc_key(doc), store.pending_key(doc), store.lease_key(doc), store.running_key, store.queue_key]
        await script(keys, [store.target.prefix, doc])


async def with_transaction_helper(store):
    """WATCH through redis-py's transaction() helper, which retries on WatchError for us."""
    for doc in await store.orphaned_docs():
        async def decide(pipe, doc=doc):
            if await pipe.hget(store.doc_key(doc), "state") != RUNNING or await pipe.exists(store.lease_key(doc)):
                pipe.multi()
                return
            pending = sorted(await pipe.smembers(store.pending_key(doc)))
            await pipe.watch(*[store.task_key(t) for t in pending]) if pending else None
            running = [t for t in pending if await pipe.hget(store.task_key(t), "state") == RUNNING]
            pipe.multi()
            if not pending:
                store.add_finish(pipe, doc, FAIL)
            for t in running:
                store.add_requeue(pipe, doc, t)
        await store.client.transaction(decide, store.doc_key(doc), store.pending_key(doc), store.lease_key(doc))


# --- wrong answers ---------------------------------------------------------------------

async def never_fails(store):
    """Over-correction: requeues safely but never marks anything FAIL."""
    for doc in await store.orphaned_docs():
        for tid, state in (await store.incomplete_tasks(doc)).items():
            if state == RUNNING:
                await store.client.eval(
                    "if redis.call('HGET', KEYS[1], 'state') == 'RUNNING' then "
                    "redis.call('HINCRBY', KEYS[1], 'epoch', 1) redis.call('HSET', KEYS[1], 'state', 'QUEUED') "
                    "redis.call('RPUSH', KEYS[2], ARGV[1]) end", 2, store.task_key(tid), store.queue_key, tid)


async def never_requeues(store):
    """Over-correction: only ever fails stuck documents, atomically."""
    for doc in await store.orphaned_docs():
        await store.client.eval(
            "if redis.call('HGET', KEYS[1], 'state') == 'RUNNING' and redis.call('SCARD', KEYS[2]) == 0 then "
            "redis.call('HSET', KEYS[1], 'state', 'FAIL') end", 2, store.doc_key(doc), store.pending_key(doc))


async def watch_without_task_state(store):
    """Atomic against the worker, but two replicas both requeue: the task's own state is not checked."""
    for doc in await store.orphaned_docs():
        async with store.client.pipeline() as pipe:
            while True:
                try:
                    await pipe.watch(store.doc_key(doc), store.pending_key(doc))
                    if await pipe.hget(store.doc_key(doc), "state") != RUNNING:
                        break
                    pending = await pipe.smembers(store.pending_key(doc))
                    pipe.multi()
                    if pending:
                        for t in pending:
                            store.add_requeue(pipe, doc, t)
                    else:
                        store.add_finish(pipe, doc, FAIL)
                    await pipe.execute()
                    break
                except WatchError:
                    continue


async def loses_the_task(store):
    """Bumps the epoch and marks QUEUED, but forgets to push the task onto the queue."""
    for doc in await store.orphaned_docs():
        for tid, state in (await store.incomplete_tasks(doc)).items():
            if state == RUNNING:
                await store.client.eval(
                    "if redis.call('HGET', KEYS[1], 'state') == 'RUNNING' then "
                    "redis.call('HINCRBY', KEYS[1], 'epoch', 1) redis.call('HSET', KEYS[1], 'state', 'QUEUED') end",
                    1, store.task_key(tid))
        if not await store.incomplete_tasks(doc):
            await reconcile_lua(store)


async def ignores_the_lease(store):
    """Atomic, but treats every RUNNING document as orphaned, live worker or not."""
    for doc in await store.client.smembers(store.running_key):
        await store.client.delete(store.lease_key(doc))
    await reconcile_lua(store)


def sync_reconciler(store):
    return None


async def does_nothing(store):
    """Changes the problem: no reconciling, so no race."""


@pytest.mark.parametrize("answer", [reconcile_watch, reconcile_lua, reconcile_epoch, whole_doc_in_one_script,
                                    with_transaction_helper])
async def test_safe_reconciler_accepts_every_correct_style(answer):
    card = await check("03.safe-reconciler", answer)
    assert card.passed, card.message
    assert "never turned DONE into FAIL" in card.message


@pytest.mark.parametrize("answer, hint", [
    (reconcile_naive, "DONE -> FAIL"),
    (reconcile_recheck, "only narrows that gap"),
    (never_fails, "stuck"),
    (never_requeues, "requeued exactly once"),
    (watch_without_task_state, "twice"),
    (loses_the_task, "requeued exactly once"),
    (ignores_the_lease, "fresh lease"),
    (sync_reconciler, "coroutine function"),
    (does_nothing, "your reconciler left it RUNNING"),
    (42, "Pass your reconciler function"),
])
async def test_safe_reconciler_rejects_wrong_answers_with_a_specific_hint(answer, hint):
    card = await check("03.safe-reconciler", answer)
    assert not card.passed
    assert hint in card.message, card.message


async def test_passing_a_called_function_gets_a_hint():
    card = await check("03.safe-reconciler", reconcile_lua(None))
    assert not card.passed and "no parentheses" in card.message


# --- zombie completion --------------------------------------------------------------------

async def fenced_by_watch_on_task_only(store, task_id, epoch):
    """Checks the epoch atomically but decides 'last task' outside the transaction."""
    doc = doc_of(task_id)
    async with store.client.pipeline() as pipe:
        while True:
            try:
                await pipe.watch(store.task_key(task_id))
                state, current = await pipe.hmget(store.task_key(task_id), "state", "epoch")
                if state != RUNNING or int(current) != epoch:
                    return False
                pipe.multi()
                pipe.hset(store.task_key(task_id), "state", DONE)
                pipe.srem(store.pending_key(doc), task_id)
                pipe.hincrby(store.doc_key(doc), "done", 1)
                await pipe.execute()
                break
            except WatchError:
                continue
    if await store.client.scard(store.pending_key(doc)) == 0 and \
            await store.client.hget(store.doc_key(doc), "state") == RUNNING:
        # by now the other worker may have seen 0 as well... or neither did
        await store.client.hset(store.doc_key(doc), "state", DONE)
    return True


async def epoch_only(store, task_id, epoch):
    """Checks the epoch atomically but not the document's state: revives a FAIL document."""
    doc = doc_of(task_id)
    got = await store.client.eval(
        "if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'state') ~= 'RUNNING' "
        "then return 0 end redis.call('HSET', KEYS[1], 'state', 'DONE') redis.call('SREM', KEYS[2], ARGV[2]) "
        "redis.call('HINCRBY', KEYS[3], 'done', 1) if redis.call('SCARD', KEYS[2]) == 0 then "
        "redis.call('HSET', KEYS[3], 'state', 'DONE') end return 1",
        3, store.task_key(task_id), store.pending_key(doc), store.doc_key(doc), epoch, task_id)
    return bool(got)


async def refuses_everything(store, task_id, epoch):
    return False


async def claims_success(store, task_id, epoch):
    return True  # changes the problem: reports a completion it never wrote


@pytest.mark.parametrize("answer", [complete_fenced, complete_watch])
async def test_zombie_check_accepts_lua_and_watch(answer):
    card = await check("03.zombie-completion", answer)
    assert card.passed, card.message


@pytest.mark.parametrize("answer, hint", [
    (complete_naive, "zombie (epoch 1) completed"),
    (epoch_only, "must not revive a FAIL document"),
    (refuses_everything, "must complete it"),
    (claims_success, "the last completion must mark the document DONE"),
    (fenced_by_watch_on_task_only, "same atomic step as the completion"),
])
async def test_zombie_check_rejects_wrong_answers(answer, hint):
    card = await check("03.zombie-completion", answer)
    assert not card.passed
    assert hint in card.message, card.message
