"""Reconcilers and worker completion: alone, and under the explorer's every schedule."""

from __future__ import annotations

import pytest

from labkit.tasks.completion import Outcome, complete_fenced, complete_naive, complete_watch
from labkit.lessons.race_demo import DOC, SETUPS, T2, VARIANTS, incident
from labkit.tasks.reconcilers import RECONCILERS
from labkit.tasks.store import DONE, FAIL, QUEUED, RUNNING, Store


@pytest.fixture
async def store(lab):
    client = lab.async_client()
    yield Store(client, lab)
    await client.aclose()


@pytest.mark.parametrize("name", list(RECONCILERS))
async def test_reconciler_requeues_an_orphaned_task_once_and_fences_it(store, name):
    await SETUPS["incident"](store)
    await RECONCILERS[name](store)
    await RECONCILERS[name](store)  # a second pass must not requeue again
    assert await store.queue() == [T2]
    task = await store.task(T2)
    assert (task.state, task.epoch) == (QUEUED, 2)
    assert (await store.doc(DOC)).state == RUNNING


@pytest.mark.parametrize("name", list(RECONCILERS))
async def test_reconciler_fails_a_stuck_doc_and_spares_live_and_done_ones(store, name):
    await SETUPS["stuck"](store)
    await RECONCILERS[name](store)
    assert (await store.doc(DOC)).state == FAIL
    await store.client.delete(*await store.client.keys(store.target.prefix + "*"))
    await SETUPS["leased"](store)
    await RECONCILERS[name](store)
    assert (await store.doc(DOC)).state == RUNNING and await store.queue() == []


@pytest.mark.parametrize("complete", [complete_fenced, complete_watch])
async def test_fenced_completion_refuses_a_stale_epoch_and_a_terminal_doc(store, complete):
    await SETUPS["takeover"](store)
    assert await complete(store, T2, 1) is Outcome.STALE
    assert (await store.doc(DOC)).state == RUNNING
    assert await complete(store, T2, 3) is Outcome.DOC_DONE
    doc = await store.doc(DOC)
    assert (doc.state, doc.done, doc.pending) == (DONE, 2, ())
    await store.client.delete(*await store.client.keys(store.target.prefix + "*"))
    await SETUPS["failed"](store)
    assert not await complete(store, T2, 1)
    assert (await store.doc(DOC)).state == FAIL


async def test_naive_completion_lets_a_zombie_through(store):
    await SETUPS["takeover"](store)
    assert await complete_naive(store, T2, 1) is Outcome.DOC_DONE  # the bug rule 3 fixes


@pytest.mark.parametrize("variant", ["naive", "recheck"])
async def test_explorer_finds_done_to_fail_in_the_racy_variants(lab, variant):
    result = await incident(lab, variant).explore()
    assert result.complete and result.failing
    first = result.first_failure
    assert "DONE -> FAIL" in first.message
    assert first.steps[-1].actor == "reconciler"
    assert result.runs[0].outcome == "ok"  # the serial schedule is fine: the bug needs an interleaving


async def test_recheck_narrows_the_window_but_does_not_close_it(lab):
    naive = await incident(lab, "naive").explore()
    recheck = await incident(lab, "recheck").explore()
    assert 0 < len(recheck.failing) / recheck.schedules < len(naive.failing) / naive.schedules


@pytest.mark.parametrize("variant", ["watch", "lua", "epoch"])
async def test_explorer_finds_nothing_in_the_atomic_variants(lab, variant):
    result = await incident(lab, variant).explore()
    assert result.complete and result.schedules > 1
    assert not result.failing, result.first_failure.trace()


def test_unknown_variant(lab):
    with pytest.raises(ValueError, match="choose from"):
        incident(lab, "optimistic")
    assert set(VARIANTS) == {"naive", "recheck", "watch", "lua", "epoch"}
