"""The recovery loop: exact, race-safe requeue of a dead worker's tasks, in bounded time."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from labkit.tasks import execlog
from labkit.tasks.completion import Outcome, complete_fenced
from labkit.tasks.heartbeat import beat_async
from labkit.tasks.procs import ProcessGroup
from labkit.tasks.recovery import declare_dead, deregister, recovery_loop, scan_once
from labkit.tasks.store import DONE, QUEUED, RUNNING, Store
from worker_procs import live_worker_children


@pytest.fixture(autouse=True)
def _no_worker_survives():
    yield
    assert live_worker_children() == [], "a worker process outlived its test"


@pytest.fixture
async def store(lab):
    client = lab.async_client()
    yield Store(client, lab)
    await client.aclose()


async def test_requeues_exactly_the_dead_workers_tasks(store: Store) -> None:
    await store.create_doc("d1", 4)
    await beat_async(store.client, store.target, "wa", 100)    # wa's lease lapses at once
    await beat_async(store.client, store.target, "wb", 60_000)  # wb stays alive
    mine = {"wa": [await store.claim("wa"), await store.claim("wa")],
            "wb": [await store.claim("wb"), await store.claim("wb")]}
    await asyncio.sleep(0.15)
    verdicts = await scan_once(store, ttl_s=0.1)
    assert [v.worker for v in verdicts] == ["wa"]
    assert sorted(verdicts[0].requeued) == sorted(c.task for c in mine["wa"])
    assert sorted(await store.queue()) == sorted(c.task for c in mine["wa"])
    for claim in mine["wa"]:
        task = await store.task(claim.task)
        assert (task.state, task.worker, task.epoch) == (QUEUED, "", claim.epoch + 1)
        assert await complete_fenced(store, claim.task, claim.epoch) is Outcome.STALE  # the zombie is fenced off
    for claim in mine["wb"]:
        assert (await store.task(claim.task)).state == RUNNING
    assert await scan_once(store, ttl_s=0.1) == []  # a second scan finds nothing more


async def test_the_verdict_and_its_log_entry_are_one_step(store: Store) -> None:
    """The script that requeues also logs: a reply lost to a restart cannot leave an unlogged requeue."""
    await store.create_doc("d1", 2)
    await beat_async(store.client, store.target, "wa", 100)
    await beat_async(store.client, store.target, "wb", 100)
    claim = await store.claim("wa")
    await asyncio.sleep(0.15)
    verdicts = {w: await declare_dead(store, w, 0.1, me="r1") for w in ("wa", "wb")}
    logged = {e.worker: e for e in await execlog.read(store.client, store.target) if e.kind == "dead"}
    assert sorted(logged) == ["wa", "wb"]
    for worker, verdict in verdicts.items():
        event = logged[worker]
        assert event.t == verdict.at and event.get("by") == "r1"
        assert event.get("requeued") == list(verdict.requeued)  # a JSON list, empty for wb
        assert event.get("last_beat") == pytest.approx(verdict.last_beat, abs=1e-6)
        assert event.get("latency_s") == pytest.approx(verdict.since_last_beat_s, abs=1e-5)
    assert logged["wa"].get("requeued") == [claim.task] and logged["wb"].get("requeued") == []
    assert await declare_dead(store, "wa", 0.1) is None  # declared once, logged once
    assert sum(e.kind == "dead" for e in await execlog.read(store.client, store.target)) == 2


async def test_finished_task_is_not_requeued(store: Store) -> None:
    await store.create_doc("d1", 1)
    await beat_async(store.client, store.target, "wa", 100)
    claim = await store.claim("wa")
    assert await complete_fenced(store, claim.task, claim.epoch)
    await asyncio.sleep(0.15)
    verdicts = await scan_once(store, ttl_s=0.1)
    assert verdicts[0].requeued == ()
    assert (await store.doc("d1")).state == DONE and await store.queue() == []


async def test_a_worker_that_left_cleanly_is_not_declared_dead(store: Store) -> None:
    await beat_async(store.client, store.target, "wa", 100)
    assert await deregister(store, "wa")
    await asyncio.sleep(0.15)
    assert await scan_once(store, ttl_s=0.1) == []


async def test_detection_latency_and_nothing_lost_after_kill_9(lab, store: Store) -> None:
    ttl, scan = 0.5, 0.1
    stop = asyncio.Event()
    async with ProcessGroup(lab) as group:
        w1 = await group.start("w1", "--mode", "offload", "--ttl", str(ttl), "--latency", "2")
        await store.create_doc("d1", 3)
        while not any(e.kind == "claim" for e in await execlog.read(store.client, lab)):
            await asyncio.sleep(0.02)
        recovery = asyncio.create_task(recovery_loop(lab, stop, ttl_s=ttl, scan_s=scan))
        w1.send(signal.SIGKILL)
        killed = time.time()
        assert await w1.wait_exit(5) == -signal.SIGKILL
        while not any(e.kind == "dead" for e in await execlog.read(store.client, lab)):
            assert time.time() - killed < 3, "the dead worker was never detected"
            await asyncio.sleep(0.02)
        verdict = next(e for e in await execlog.read(store.client, lab) if e.kind == "dead")
        assert verdict.t - killed <= ttl + scan + 0.1
        assert len(verdict.get("requeued")) == 1
        w2 = await group.start("w2", "--mode", "async-client", "--latency", "0.05", "--exit-when-idle")
        assert await w2.wait_exit(10) == 0
        stop.set()
        await recovery
    doc = await store.doc("d1")
    assert (doc.state, doc.done) == (DONE, 3)
    assert execlog.duplicate_executions(await execlog.read(store.client, lab)) == 0


async def test_recovery_loop_stops_promptly_when_asked(lab) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(recovery_loop(lab, stop, ttl_s=1.0, scan_s=5.0))
    await asyncio.sleep(0.1)
    began = time.perf_counter()
    stop.set()
    stats = await asyncio.wait_for(task, 2)
    assert time.perf_counter() - began < 0.5 and stats.scans >= 1


@pytest.mark.parametrize("ttl_s, scan_s", [(0, 0.1), (1.0, -1), ("1", 0.1)])
async def test_bad_timing_is_a_clear_error(lab, ttl_s, scan_s) -> None:
    with pytest.raises(ValueError, match="seconds"):
        await recovery_loop(lab, asyncio.Event(), ttl_s=ttl_s, scan_s=scan_s)
