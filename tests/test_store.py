"""The document/task store on a real Redis: layout, validation, fencing tokens, retry."""

from __future__ import annotations

import pytest

from labkit.tasks.store import (DONE, FAIL, QUEUED, RUNNING, BadState, Store, TaskSpec, TerminalState,
                          UnknownDocument, UnknownTask, doc_of, task_id)


@pytest.fixture
async def store(lab):
    client = lab.async_client()
    yield Store(client, lab)
    await client.aclose()


async def test_create_doc_queues_every_task(store):
    tasks = await store.create_doc("d1", 3)
    assert tasks == ["d1-t1", "d1-t2", "d1-t3"]
    doc = await store.doc("d1")
    assert (doc.state, doc.done, doc.total, doc.pending) == (RUNNING, 0, 3, tuple(tasks))
    assert await store.queue() == tasks
    assert (await store.task("d1-t2")).state == QUEUED


async def test_every_key_is_under_the_prefix(store, lab):
    before = set(await store.client.keys("*"))
    await store.create_doc("d1", 2)
    claim = await store.claim("w1")
    await store.heartbeat(claim.doc, "w1")
    new = set(await store.client.keys("*")) - before
    assert new and all(k.startswith(lab.prefix) for k in new)


async def test_claim_bumps_the_epoch_each_time_a_task_changes_hands(store):
    await store.create_doc("d1", 1)
    first = await store.claim("w1")
    assert (first.task, first.doc, first.epoch, first.worker) == ("d1-t1", "d1", 1, "w1")
    assert await store.claim("w2") is None  # queue empty
    task = await store.task("d1-t1")
    assert (task.state, task.epoch, task.worker) == (RUNNING, 1, "w1")
    async with store.client.pipeline() as pipe:
        store.add_requeue(pipe, "d1", "d1-t1")
        await pipe.execute()
    second = await store.claim("w2")
    assert second.epoch == 3  # requeue and claim both moved it


async def test_unknown_ids_get_clear_errors(store):
    with pytest.raises(UnknownDocument, match="no document 'nope'"):
        await store.doc("nope")
    with pytest.raises(UnknownTask, match="no task 'nope-t1'"):
        await store.task("nope-t1")
    with pytest.raises(UnknownDocument):
        await store.retry("nope")


@pytest.mark.parametrize("bad", ["", "has space", "a:b", None, 7, "x" * 65])
async def test_bad_ids_are_rejected(store, bad):
    with pytest.raises(ValueError, match="id must be"):
        await store.create_doc(bad, 1)


async def test_bad_state_names_and_sizes(store):
    with pytest.raises(BadState, match="RUNNING, DONE, FAIL"):
        await store.put_doc("d1", "running", {"d1-t1": TaskSpec()})
    with pytest.raises(BadState, match="QUEUED, RUNNING, DONE"):
        await store.put_doc("d1", RUNNING, {"d1-t1": TaskSpec(state="FAIL")})
    with pytest.raises(ValueError, match="must be named"):
        await store.put_doc("d1", RUNNING, {"other-t1": TaskSpec()})
    with pytest.raises(ValueError, match="n_tasks"):
        await store.create_doc("d1", 0)
    with pytest.raises(BadState, match="DONE or FAIL"):
        store.add_finish(store.client.pipeline(), "d1", RUNNING)
    with pytest.raises(ValueError, match="task id like"):
        doc_of("d1")
    assert doc_of(task_id("doc-7", 3)) == "doc-7"


async def test_done_and_fail_are_terminal_until_an_explicit_retry(store):
    await store.create_doc("d1", 2)
    with pytest.raises(TerminalState, match="still RUNNING"):
        await store.retry("d1")
    await store.claim("w1")
    async with store.client.pipeline() as pipe:
        store.add_finish(pipe, "d1", FAIL)
        await pipe.execute()
    assert (await store.doc("d1")).state == FAIL
    await store.retry("d1")
    doc = await store.doc("d1")
    assert (doc.state, doc.done, doc.pending) == (RUNNING, 0, ("d1-t1", "d1-t2"))
    assert sorted(await store.queue()) == ["d1-t1", "d1-t2"]  # each once, even the one left queued
    assert (await store.task("d1-t1")).epoch == 2  # the old holder is fenced out


async def test_orphaned_docs_skip_a_live_lease(store):
    await store.put_doc("d1", RUNNING, {"d1-t1": TaskSpec(RUNNING, 1, "w1")})
    await store.put_doc("d2", RUNNING, {"d2-t1": TaskSpec(RUNNING, 1, "w2")}, lease="w2")
    await store.put_doc("d3", DONE, {"d3-t1": TaskSpec(DONE, 1, "w3")})
    assert await store.orphaned_docs() == ["d1"]
    assert await store.incomplete_tasks("d1") == {"d1-t1": RUNNING}
    assert await store.incomplete_tasks("d3") == {}


def test_store_needs_a_target(lab):
    with pytest.raises(TypeError, match="RedisTarget"):
        Store(lab.async_client(), "prefix:")
