"""What real code throws at the explorer: non-determinism, blocking dequeues, gather, clocks, seeds, long replies."""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from datetime import datetime, timezone
from time import time as bound_time  # bound before any run: the pinned clock must still reach it

import pytest

from labkit.instruments.explorer import Explorer, ExplorerError, StepClock


async def test_a_schedule_that_does_not_replay_keeps_every_result_and_says_where_it_diverged(lab):
    calls = {"n": 0}
    key = lab.key("n")

    async def flaky(client):  # the first run reads twice, later runs never: not the same scenario twice
        calls["n"] += 1
        if calls["n"] <= 2:  # a fresh explorer runs its first schedule twice (its keys are new), so twice
            await client.get(key)
            await client.get(key)
        await client.incr(key)

    async def steady(client):
        await client.incr(key)

    result = await Explorer(lab, {"flaky": flaky, "steady": steady}).explore()
    assert result.schedules >= 1 and result.runs  # the results so far are kept
    assert result.mismatches and not result.complete
    mismatch = result.mismatches[0]
    assert mismatch.diverged_at() is not None or "outside Redis" in str(mismatch)
    text = str(mismatch)
    assert "the run it branched from" in text and "this run" in text and mismatch.schedule_id in text
    assert "could not be replayed" in result.summary()


async def test_a_blocked_dequeue_waits_for_the_push_instead_of_hanging(lab):
    queue, taken = lab.key("queue"), lab.key("taken")

    async def worker(client):
        job = await client.blmove(queue, taken, 0, "LEFT", "RIGHT")
        return job

    async def producer(client):
        await client.rpush(queue, "job1")

    def job_taken_once(run):
        return None if run.result("worker") == "job1" and run.final[taken] == ["job1"] else "job not taken"

    began = time.perf_counter()
    result = await Explorer(lab, {"worker": worker, "producer": producer}, invariants=job_taken_once,
                            step_timeout=0.5).explore()
    assert not result.failing and result.schedules == 1  # the worker is only enabled once the job is there
    assert [s.actor for s in result.runs[0].steps] == ["producer", "worker"]
    assert time.perf_counter() - began < 2


async def test_a_worker_still_blocked_at_the_end_is_blocked_not_hung(lab):
    async def worker(client):
        return await client.blpop([lab.key("queue")], 0)

    async def other(client):
        await client.set(lab.key("x"), 1)

    result = await Explorer(lab, {"worker": worker, "other": other}, step_timeout=0.5).explore()
    assert not result.failing and result.runs[0].actors["worker"].status == "blocked"
    assert "BLPOP" in result.runs[0].actors["worker"].note


async def test_gather_inside_one_actor_says_how_to_split_it(lab):
    async def both_at_once(client):
        await asyncio.gather(client.get(lab.key("a")), client.get(lab.key("b")))

    with pytest.raises(ExplorerError, match="two commands at once from one actor.*split") as info:
        await Explorer(lab, {"worker": both_at_once}).explore()
    assert "GET a" in str(info.value) and "GET b" in str(info.value) and "worker-a" in str(info.value)


async def test_a_pinned_clock_makes_time_reading_actors_replay_exactly(lab):
    key = lab.key("stamp")

    async def stamper(client):
        await client.set(key, repr(time.time()))
        seconds, _ = await client.time()
        await client.rpush(lab.key("times"), seconds)

    pinned = Explorer(lab, {"a": stamper, "b": stamper}, clock=StepClock(1_000.0, per_step=10.0))
    first = (await pinned.explore()).runs[0]
    again = await pinned.replay(first.schedule_id)
    assert [dict(s.state) for s in again.steps] == [dict(s.state) for s in first.steps]
    assert first.final[key] in ("1000.0", "1010.0", "1020.0", "1030.0") and not first.read_real_time
    assert "read the real time" not in first.trace()

    real = (await Explorer(lab, {"a": stamper}).explore()).runs[0]
    assert real.read_real_time and "read the real time" in real.trace() and "Redis TIME" in real.trace()
    assert time.time() > 1_700_000_000  # outside the run the real clock is back


async def test_scheduled_stress_is_reproducible_from_its_seed(lab):
    key = lab.key("counter")

    async def setup(client):
        await client.set(key, 0)

    async def get_then_set(client):
        value = int(await client.get(key))
        await client.set(key, value + 1)

    def nothing_lost(run):
        return None if run.final[key] == "3" else "lost an update"

    explorer = Explorer(lab, {"a": get_then_set, "b": get_then_set, "c": get_then_set}, setup=setup,
                        invariants=nothing_lost)
    one = await explorer.stress(40, seeds=[7, 8], scheduled=True)
    two = await explorer.stress(40, seeds=[7, 8], scheduled=True)
    assert one.first_failure_per_seed == two.first_failure_per_seed and one.failures == two.failures > 0
    assert one.first_failure.schedule_id == two.first_failure.schedule_id
    assert (await explorer.replay(one.first_failure.schedule_id)).failed
    assert "reproducible" in one.summary()
    free = await explorer.stress(5, seeds=1)
    assert "OS decides the interleaving" in free.summary()


async def test_long_replies_are_whole_on_demand(lab):
    key = lab.key("long")
    value = "x" * 200 + "END"

    async def setup(client):
        await client.set(key, value)

    async def reader(client):
        return await client.get(key)

    run = (await Explorer(lab, {"r": reader}, setup=setup).explore()).runs[0]
    step_line = next(line for line in run.trace().splitlines() if "GET long" in line)
    assert "END" not in step_line and len(run.steps[0].reply) <= 60
    assert value in run.trace(full=True) and run.steps[0].full_reply == value


async def test_a_sync_worker_blocked_in_brpoplpush_and_a_stream_reader_wait_for_their_keys(lab):
    queue, taken, stream = lab.key("queue"), lab.key("taken"), lab.key("events")

    def sync_worker(client):  # run in a thread, as RQ-style workers are
        return client.brpoplpush(queue, taken, 0)

    async def reader(client):
        await client.xgroup_create(stream, "g", id="0", mkstream=True)
        return await client.xreadgroup("g", "c1", {stream: ">"}, count=1, block=0)

    async def producer(client):
        await client.lpush(queue, "job1")
        await client.xadd(stream, {"job": "job1"})

    result = await Explorer(lab, {"sync_worker": sync_worker, "reader": reader, "producer": producer},
                            step_timeout=0.5).explore()
    assert not result.failing and result.complete
    for run in result.runs:
        labels = [(s.actor, s.label.split()[0]) for s in run.steps]
        assert labels.index(("producer", "LPUSH")) < labels.index(("sync_worker", "BRPOPLPUSH"))
        assert labels.index(("producer", "XADD")) < labels.index(("reader", "XREADGROUP"))
        assert run.result("sync_worker") == "job1" and run.result("reader")


async def test_stress_runs_sync_actors_in_threads_and_keeps_their_history(lab):
    key = lab.key("counter")

    def setup(client):
        client.set(key, 0)

    def get_then_set(client):
        value = int(client.get(key))
        client.set(key, value + 1)

    def nothing_lost(run):
        return None if run.final[key] == "2" else "lost an update"

    explorer = Explorer(lab, {"a": get_then_set, "b": get_then_set}, setup=setup, invariants=nothing_lost)
    stress = await explorer.stress(20, jitter=0.002, seeds=[3])
    assert stress.runs == 20 and stress.failures > 0
    run = stress.first_failure
    assert len(run.steps) == 4 and {s.actor for s in run.steps} == {"a", "b"}
    assert [s.label.split()[0] for s in run.steps].count("GET") == 2 and len(run.states) == 5


async def test_the_pinned_clock_reaches_datetime_and_early_from_imports(lab):
    key = lab.key("stamps")

    def stamper(client):  # a sync actor in its thread, reading "now" four ways
        client.get(lab.key("nothing"))
        client.rpush(key, f"{bound_time()}|{datetime.now(timezone.utc).timestamp()}|"
                          f"{_dt.datetime.now().timestamp()}|{_dt.date.today()}")

    pinned = Explorer(lab, {"a": stamper, "b": stamper}, clock=StepClock(1_000_000.0, per_step=60.0))
    result = await pinned.explore()
    for run in result.runs:
        assert not run.read_real_time and len(run.final[key]) == 2
        for entry in run.final[key]:
            t1, t2, t3, day = entry.split("|")
            assert float(t1) == float(t2) == float(t3) and (float(t1) - 1_000_000.0) % 60 == 0
            assert day == str(_dt.date.fromtimestamp(float(t1)))
    first = result.runs[0]
    again = await pinned.replay(first.schedule_id)
    assert again.final[key] == first.final[key]

    real = await Explorer(lab, {"a": lambda client: client.set(key, str(datetime.now()))}).replay("A")
    assert real.read_real_time and "read the real time" in real.trace()
    assert datetime.now().year >= 2024 and bound_time() > 1_700_000_000  # outside a run, the real clock
