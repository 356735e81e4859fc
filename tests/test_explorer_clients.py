"""The explorer on code shaped like real libraries: sync clients in threads, bytes, arguments, own keys."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import threading
import time
import uuid

import pytest

from labkit.instruments.explorer import Explorer, ExplorerError


def sync_get_then_set(client, key):
    value = int(client.get(key))
    client.set(key, value + 1)
    return value + 1


async def async_get_then_set(client, key):
    value = int(await client.get(key))
    await client.set(key, value + 1)
    return value + 1


def counter(lab, actors, **options):
    key = lab.key("counter")

    def setup(client):  # a sync setup, run in a thread
        client.set(key, 0)

    def nothing_lost(run):
        got = int(run.final[key])
        return None if got == len(actors) else f"counter is {got}, expected {len(actors)}: an update was lost"

    return Explorer(lab, {n: (fn, key) for n, fn in actors.items()}, setup=setup, invariants=nothing_lost,
                    name="counter", **options)


async def test_sync_actors_run_in_threads_at_command_granularity(lab):
    result = await counter(lab, {"a": sync_get_then_set, "b": sync_get_then_set}).explore()
    assert result.schedules == 6 and len(result.failing) == 4 and result.complete
    first = result.first_failure
    assert [s.label.split()[0] for s in first.steps] == ["GET", "GET", "SET", "SET"]
    assert "lost" in first.message and first.actors["a"].status == "finished"


async def test_sync_and_async_actors_mix_and_replay_exactly(lab):
    explorer = counter(lab, {"sync": sync_get_then_set, "aio": async_get_then_set})
    result = await explorer.explore()
    assert result.schedules == 6 and len(result.failing) == 4
    for run in result.runs:
        again = await explorer.replay(run.schedule_id)
        assert [(s.actor, s.label, s.reply, dict(s.state)) for s in again.steps] == \
            [(s.actor, s.label, s.reply, dict(s.state)) for s in run.steps]
        assert again.outcome == run.outcome


async def test_a_thread_blocked_outside_redis_is_reported_not_hung(lab):
    release = threading.Event()

    def stuck(client, key):
        client.get(key)
        release.wait(5)  # a lock or a sleep: nothing the explorer can schedule

    began = time.perf_counter()
    explorer = counter(lab, {"stuck": stuck, "ok": sync_get_then_set}, step_timeout=0.3)
    result = await explorer.explore(max_schedules=3)
    release.set()
    assert result.failing and result.first_failure.outcome == "hung"
    assert "blocked outside Redis" in result.first_failure.message
    assert time.perf_counter() - began < 4


async def test_actor_arguments_as_tuple_or_partial(lab):
    key = lab.key("counter")

    async def add(client, key, amount):
        await client.incrby(key, amount)

    def add_sync(client, key, amount):
        client.incrby(key, amount)

    explorer = Explorer(lab, {"five": (add, key, 5), "two": functools.partial(add_sync, key=key, amount=2)},
                        invariants=lambda run: run.final[key] == "7")
    result = await explorer.explore()
    assert result.schedules == 2 and not result.failing


async def test_client_options_reach_the_actors_clients(lab):
    key = lab.key("blob")
    seen = []

    def reader(client):
        seen.append(client.get(key))

    async def areader(client):
        seen.append(await client.get(key))

    async def setup(client):
        await client.set(key, b"\xff\x00raw")

    explorer = Explorer(lab, {"sync": reader, "aio": areader}, setup=setup,
                        client_options={"decode_responses": False, "client_name": "under-test"})
    result = await explorer.explore()
    assert not result.failing and seen and all(v == b"\xff\x00raw" for v in seen)
    assert result.runs[0].final[key] == b"\xff\x00raw"  # bytes that are not text stay bytes in the state
    with pytest.raises(ExplorerError, match="client_options"):
        Explorer(lab, {"a": reader}, client_options="decode")


async def test_keys_are_the_keys_the_code_writes_even_outside_the_prefix(lab):
    outside = f"elsewhere:{lab.prefix}queue"  # a library's own key scheme, e.g. rq:queue:<name>

    async def setup(client):
        await client.rpush(outside, "job1")

    def worker(client):
        return client.lpop(outside)

    def pusher(client):
        client.rpush(outside, "job2")

    def queue_never_loses_a_job(run):
        return None if run.result("worker") in ("job1", "job2") else f"worker got {run.result('worker')!r}"

    explorer = Explorer(lab, {"worker": worker, "pusher": pusher}, setup=setup, invariants=queue_never_loses_a_job)
    result = await explorer.explore()
    assert not result.failing and result.schedules == 2
    assert all(r.initial[outside] == ["job1"] and r.final[outside] == ["job2"] for r in result.runs)  # reset
    assert await explorer.cleanup() >= 1
    with lab.sync_client() as c:
        assert not c.exists(outside)


async def test_no_keyspace_walks_per_step(lab):
    with lab.sync_client() as c:
        before = int(c.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
    result = await counter(lab, {"a": sync_get_then_set, "b": async_get_then_set}).explore()
    with lab.sync_client() as c:
        after = int(c.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
    assert result.schedules == 6 and after == before


async def test_stress_keeps_history_and_counts_over_seeds(lab):
    key = lab.key("doc")

    async def setup(client):
        await client.set(key, "RUNNING")

    async def finisher(client):
        await client.set(key, "DONE")

    async def reopener(client):
        if await client.get(key) == "DONE":
            await client.set(key, "RUNNING")

    async def tidy(client):
        await client.set(key, "RUNNING")  # a later write that hides the history from a final-state check

    def done_stays_done(run):
        states = [s.get(key) for s in run.states]
        for before, after in zip(states, states[1:]):
            if before == "DONE" and after != "DONE":
                return "DONE was downgraded"
        return None

    explorer = Explorer(lab, {"finisher": finisher, "reopener": reopener, "tidy": tidy}, setup=setup,
                        invariants=done_stays_done)
    stress = await explorer.stress(30, seeds=3, start_spread=0.002)
    assert stress.runs == 90 and stress.seeds == [0, 1, 2] and len(stress.first_failure_per_seed) == 3
    assert stress.failures > 0 and 0 < stress.failure_rate <= 1  # only a history invariant can see these
    assert stress.first_failure is not None and len(stress.first_failure.states) > 2
    assert "median" in stress.summary() and "over 3 seeds" in stress.summary()
    blind = await explorer.stress(30, seeds=3, start_spread=0.002, history=False)
    assert blind.runs == 90 and blind.failures == 0  # start and end only: the downgrade is invisible


def test_schedule_letters_never_collide_silently(lab):
    explorer = Explorer(lab, {"reconciler": sync_get_then_set, "replica": sync_get_then_set,
                              "worker": sync_get_then_set})
    assert explorer.aliases == {"reconciler": "R", "replica": "P", "worker": "W"}
    assert explorer.parse_schedule("RPW") == ["reconciler", "replica", "worker"]


async def test_lua_scripts_get_a_label_from_what_they_call(lab):
    source = "local v = redis.call('GET', KEYS[1])\nredis.call('SET', KEYS[1], (v or 0) + 1)\nreturn v"

    async def via_script(client):
        await client.eval(source, 1, lab.key("n"))

    result = await Explorer(lab, {"s": via_script}).explore()
    assert result.runs[0].steps[0].label.startswith("EVAL <lua(GET,SET)> 1 n")


async def test_keys_the_actors_only_read_are_reset_too(lab):
    flag = lab.key("feature-flag")  # left over by an earlier cell; setup does not write it
    with lab.sync_client() as c:
        c.set(flag, "stale")

    def reader(client):
        return client.get(flag)

    explorer = Explorer(lab, {"reader": reader, "other": reader})
    result = await explorer.explore()
    assert result.schedules == 2 and not result.mismatches
    assert all(r.result("reader") is None and flag not in r.initial for r in result.runs)
    with lab.sync_client() as c:
        c.set(flag, "stale again")
    stress = await explorer.stress(3, seeds=1)
    assert stress.runs == 3 and stress.first_failure is None
    replayed = await explorer.replay("RO")
    assert replayed.result("reader") is None


async def test_keys_a_script_touches_without_declaring_them_are_tracked_and_reset(lab):
    hidden, counter = lab.key("hidden"), lab.key("counter")
    with lab.sync_client() as c:
        c.set(hidden, "left over")
    # declares no KEYS: builds the key from ARGV, as rq's and Celery's scripts do
    bump = "-- bump\nlocal was = redis.call('GET', ARGV[1])\nredis.call('INCR', ARGV[2])\nreturn was"

    def actor(client):
        return client.eval(bump, 0, hidden, counter)

    explorer = Explorer(lab, {"a": actor, "b": actor})
    result = await explorer.explore()
    assert result.schedules == 2 and not result.mismatches
    for run in result.runs:
        assert run.result("a") is None and hidden not in run.initial and counter not in run.initial
        assert run.final[counter] == "2" and counter in run.steps[0].changed
    stress = await explorer.stress(3, seeds=1)
    assert stress.runs == 3 and stress.first_failure is None
    with lab.sync_client() as c:
        assert not c.exists(hidden)


async def test_a_script_that_reads_the_server_clock_says_so(lab):
    stamp = lab.key("stamp")

    async def stamper(client):
        await client.eval("-- stamp\nlocal t = redis.call('TIME')\nredis.call('SET', KEYS[1], t[1])", 1, stamp)

    run = await Explorer(lab, {"stamper": stamper}, clock=1_000.0).replay("S")
    assert run.read_server_time and "redis.call('TIME')" in run.trace() and "no client-side clock" in run.trace()
    plain = await Explorer(lab, {"stamper": lambda c: c.set(stamp, "1")}).replay("S")
    assert not plain.read_server_time and "redis.call('TIME')" not in plain.trace()


async def test_a_server_that_refuses_monitor_still_explores_declared_keys(lab):
    user = f"nomonitor-{lab.prefix.strip(':').replace(':', '-')}"
    with lab.sync_client() as c:
        c.execute_command("ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all", "-monitor")
    try:
        scheme, rest = lab.url.split("://", 1)
        limited = dataclasses.replace(lab, url=f"{scheme}://{user}:pw@{rest}")
        counter = limited.key("counter")

        def actor(client):
            return client.eval("-- bump\nreturn redis.call('INCR', KEYS[1])", 1, counter)

        explorer = Explorer(limited, {"a": actor, "b": actor})
        result = await explorer.explore()
        assert result.schedules == 2 and not result.failing and result.runs[0].final[counter] == "2"
        clients = explorer._clients()
        try:
            await clients.scripts.start()
            assert "monitor" in clients.scripts.refused.lower() and not clients.scripts.started
        finally:
            await clients.close()
    finally:
        with lab.sync_client() as c:
            c.execute_command("ACL", "DELUSER", user)


async def test_another_learners_scripts_on_a_shared_server_are_never_ours_to_reset(lab, redis_base):
    """While this explorer runs, another learner's scripts write their own keys: none is tracked or reset."""
    theirs = redis_base.child(uuid.uuid4().hex[:8])
    bump = "-- bump\nredis.call('INCR', ARGV[1])\nreturn 1"
    counter = lab.key("counter")
    stop = asyncio.Event()

    async def other_learner() -> int:
        client, sent = theirs.async_client(), 0
        try:
            while not stop.is_set():
                await client.eval(bump, 0, theirs.key("n", str(sent % 5)))
                sent += 1
                await asyncio.sleep(0)
        finally:
            await client.aclose()
        return sent

    def actor(client):
        return client.eval(bump, 0, counter)

    neighbour = asyncio.create_task(other_learner())
    try:
        explorer = Explorer(lab, {"a": actor, "b": actor})
        for _ in range(3):
            result = await explorer.explore()
            assert all(run.final[counter] == "2" for run in result.runs)
    finally:
        stop.set()
        sent = await neighbour
    try:
        assert sent > 0
        assert not [k for k in explorer._keys.seen if not k.startswith(lab.prefix)], "tracked another learner's keys"
        with theirs.sync_client() as c:
            kept = sum(int(c.get(theirs.key("n", str(i))) or 0) for i in range(5))
        assert kept == sent, f"{sent - kept} of the other learner's increments were reset"
    finally:
        theirs.cleanup()
