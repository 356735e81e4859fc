"""The interleaving explorer on scenarios that have nothing to do with documents."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import matplotlib
import pytest
from redis.exceptions import WatchError

from labkit.instruments.explorer import Explorer, ExplorerError, ScheduleMismatch, step

matplotlib.use("Agg")


def counter_scenario(lab, increment, n_actors=2, **options):
    """Each actor adds 1 to a counter; the invariant: nothing is lost."""
    key = lab.key("counter")

    async def setup(client):
        await client.set(key, 0)

    def total_is_right(run):
        got = int(run.final.get("counter", 0))
        return None if got == n_actors else f"counter is {got}, expected {n_actors}: an update was lost"

    actors = {f"actor{i}": (lambda c, k=key: increment(c, k)) for i in range(n_actors)}
    return Explorer(lab, actors, setup=setup, invariants=[total_is_right], name="counter", **options)


async def get_then_set(client, key):
    value = int(await client.get(key))
    await client.set(key, value + 1)


async def incr(client, key):
    await client.incr(key)


async def watch_retry(client, key):
    async with client.pipeline() as pipe:
        while True:
            try:
                await pipe.watch(key)
                value = int(await pipe.get(key))
                pipe.multi()
                pipe.set(key, value + 1)
                await pipe.execute()
                return
            except WatchError:
                continue


async def test_finds_the_lost_update_and_enumerates_every_schedule(lab):
    result = await counter_scenario(lab, get_then_set).explore()
    assert result.schedules == 6 and result.complete and result.cut == 0  # C(4, 2) orders of 2+2 steps
    assert len(result.failing) == 4
    first = result.first_failure
    assert "lost" in first.message
    assert [s.label.split()[0] for s in first.steps] == ["GET", "GET", "SET", "SET"] or \
        len({s.actor for s in first.steps[:2]}) == 2
    assert "counter" in first.trace() and first.schedule_id in result.summary()


async def test_atomic_and_watch_retry_versions_hold(lab):
    assert not (await counter_scenario(lab, incr).explore()).failing
    result = await counter_scenario(lab, watch_retry).explore()
    assert not result.failing and result.complete
    assert max(len(r.steps) for r in result.runs) > min(len(r.steps) for r in result.runs)  # some runs retried
    assert any("EXEC" in s.label and "WatchError" in s.reply for r in result.runs for s in r.steps)


async def test_replay_reproduces_a_failing_schedule_exactly(lab):
    explorer = counter_scenario(lab, get_then_set)
    first = (await explorer.explore()).first_failure
    again = await explorer.replay(first.schedule_id)
    assert again.schedule_id == first.schedule_id and again.outcome == first.outcome
    assert [(s.actor, s.label, s.reply, s.state) for s in again.steps] == \
        [(s.actor, s.label, s.reply, s.state) for s in first.steps]
    assert (await explorer.replay(" ".join(first.schedule_id))).message == first.message  # spaces are fine


async def test_replay_rejects_ids_that_do_not_fit(lab):
    explorer = counter_scenario(lab, get_then_set)
    with pytest.raises(ScheduleMismatch, match="not made of this scenario's actors"):
        await explorer.replay("XYZ")
    with pytest.raises(ScheduleMismatch, match="ends after"):
        await explorer.replay("A1")
    with pytest.raises(ScheduleMismatch, match="only"):
        await explorer.replay("AAA1")  # actor A has finished after two steps


async def test_actor_that_raises_is_reported_and_the_others_still_run(lab):
    async def boom(client, key):
        await client.get(key)
        raise RuntimeError("kaboom")

    explorer = Explorer(lab, {"ok": lambda c: incr(c, lab.key("n")), "bad": lambda c: boom(c, lab.key("n"))})
    result = await explorer.explore()
    assert result.schedules == 2 and len(result.failing) == 2
    run = result.first_failure
    assert run.outcome == "error" and "kaboom" in run.message
    assert run.actors["bad"].status == "raised" and run.actors["ok"].status == "finished"
    assert run.final == {lab.key("n"): "1"} and run.final["n"] == "1"  # the key the code wrote; short form too


async def test_actor_that_hangs_is_cancelled_and_reported(lab):
    async def hang_after_one(client):
        await client.incr(lab.key("n"))
        await asyncio.Event().wait()

    async def hang_at_once(client):
        await asyncio.Event().wait()

    began = time.perf_counter()
    result = await Explorer(lab, {"h": hang_after_one, "i": lambda c: incr(c, lab.key("n"))},
                            step_timeout=0.2).explore()
    assert result.failing and all(r.outcome == "hung" for r in result.failing)
    assert "'h' did not reach its next step" in result.first_failure.message
    result = await Explorer(lab, {"h": hang_at_once}, step_timeout=0.2).explore()
    assert result.schedules == 1 and "before its first step" in result.first_failure.message
    assert time.perf_counter() - began < 5


async def test_actor_that_finishes_early_or_never_touches_redis(lab):
    async def nothing(client):
        return "idle"

    result = await Explorer(lab, {"n": nothing, "i": lambda c: incr(c, lab.key("n"))}).explore()
    assert result.schedules == 1 and not result.failing
    assert result.runs[0].result("n") == "idle" and result.runs[0].actors["n"].steps == 0


async def test_endless_retry_hits_the_step_bound(lab):
    async def spin(client):
        while True:
            await client.get(lab.key("x"))

    result = await Explorer(lab, {"spin": spin}, max_steps=20).explore()
    assert result.first_failure.outcome == "step-bound" and len(result.first_failure.steps) == 20


async def test_explicit_step_points_race_on_python_state(lab):
    shared = {"balance": 100}

    async def setup(client):
        shared["balance"] = 100

    async def withdraw(client):
        seen = shared["balance"]
        await step("read balance")
        if seen < 80:
            return False
        shared["balance"] = seen - 80
        await step("wrote balance")
        return True

    def paid_at_most_once(run):
        paid = sum(bool(run.result(a)) for a in ("a", "b"))
        return None if paid <= 1 else f"paid out {paid} x 80 from a balance of 100"

    result = await Explorer(lab, {"a": withdraw, "b": withdraw}, setup=setup,
                            invariants=paid_at_most_once).explore()
    assert result.failing and result.first_failure.steps[0].label == "step read balance"
    assert "paid out 2" in result.first_failure.message
    await step("outside the explorer this is a no-op")


async def test_bounds_count_what_they_cut(lab):
    three = counter_scenario(lab, get_then_set, n_actors=3)
    full = await three.explore()
    assert full.complete and full.schedules == 90  # 6! / (2! 2! 2!)
    capped = await three.explore(max_schedules=10)
    assert capped.schedules == 10 and capped.cut > 0 and not capped.complete
    bounded = await three.explore(preemption_bound=1)
    assert bounded.schedules < 90 and bounded.cut > 0 and bounded.failing


async def test_scripts_are_one_step_even_when_redis_py_has_to_load_them(lab):
    source = f"-- add_one\n-- {uuid.uuid4().hex}\nreturn redis.call('INCR', KEYS[1])"

    async def via_script(client):
        script = client.register_script(source)
        await script([lab.key("n")])

    explorer = Explorer(lab, {"s": via_script, "t": via_script})
    result = await explorer.explore()  # the first run meets NOSCRIPT, the later ones do not
    assert {len(r.steps) for r in result.runs} == {2} and result.schedules == 2
    assert result.runs[0].steps[0].label.startswith("EVALSHA <add_one>")


async def test_reset_touches_only_keys_under_the_prefix(lab):
    outside = lab.child("elsewhere")
    scoped = lab.child("scoped")
    with outside.sync_client() as c:
        c.set(outside.key("keep"), "me")
    await counter_scenario(scoped, get_then_set).explore()
    with outside.sync_client() as c:
        assert c.get(outside.key("keep")) == "me"


async def test_stress_mode_runs_freely_and_counts(lab):
    explorer = counter_scenario(lab, get_then_set)
    free = await explorer.stress(50, seeds=[1])
    assert free.runs == 50 and free.failures > 0 and free.runs_to_first_failure >= 1
    jittered = await explorer.stress(20, jitter=0.001, start_spread=0.002, seeds=[2])
    assert jittered.runs == 20 and "random" in jittered.summary()
    safe = await counter_scenario(lab, incr).stress(10, start_spread=0.001)
    assert safe.failures == 0 and safe.runs_to_first_failure is None and safe.runs == 50


async def test_stress_reports_a_failure_rate_over_every_run_and_a_median_over_seeds_by_default(lab):
    result = await counter_scenario(lab, get_then_set).stress(12, start_spread=0.002)
    assert result.runs == 60 and result.seeds == [0, 1, 2, 3, 4]  # every run of five seeds, not one sample
    assert len(result.first_failure_per_seed) == 5 and not result.stopped_at_first_failure
    assert result.failure_rate == result.failures / 60
    found = sorted(f for f in result.first_failure_per_seed if f is not None)
    assert found and result.runs_to_first_failure == statistics.median(found)
    quick = await counter_scenario(lab, get_then_set).stress(12, seeds=[0], stop_at_first_failure=True)
    assert quick.runs == quick.first_failure_per_seed[0] and quick.stopped_at_first_failure


async def test_session_steps_by_hand(lab):
    session = await counter_scenario(lab, get_then_set).session()
    assert set(session.enabled()) == {"actor0", "actor1"}
    assert session.enabled()["actor0"].startswith("GET")
    with pytest.raises(ExplorerError, match="no actor"):
        await session.step("nobody")
    for who in ["actor0", "actor1", "actor0", "actor1"]:
        await session.step(who)
    assert session.finished and session.schedule_id == "A1A1"
    run = await session.finish()
    assert run.failed and "lost" in run.message


def test_bad_input_gets_clear_errors(lab):
    with pytest.raises(ExplorerError, match="non-empty dict"):
        Explorer(lab, {})
    with pytest.raises(ExplorerError, match="RedisTarget"):
        Explorer("redis://x", {"a": incr})
    with pytest.raises(ExplorerError, match="must be a function of"):
        Explorer(lab, {"a": 3})
    with pytest.raises(ExplorerError, match="step_timeout"):
        Explorer(lab, {"a": incr}, step_timeout=0)


async def test_bad_explore_arguments(lab):
    explorer = counter_scenario(lab, incr)
    with pytest.raises(ExplorerError, match="max_schedules"):
        await explorer.explore(max_schedules=0)
    with pytest.raises(ExplorerError, match="jitter"):
        await explorer.stress(10, jitter=5)


async def test_results_draw_themselves(lab):
    result = await counter_scenario(lab, get_then_set).explore()
    fig = result.plot()
    assert fig.axes[0].get_title().startswith("counter: 6 schedules, 4")
    timeline = result.first_failure.plot(state_of=lambda s: s.get("counter"), state_label="counter")
    assert "lost" in timeline.axes[0].get_title()
    import matplotlib.pyplot as plt
    plt.close("all")


async def test_a_step_that_only_reads_costs_no_snapshot(lab):
    key = lab.key("counter")

    async def reads_a_lot(client):
        for _ in range(5):
            await client.get(key)
        await client.incr(key)

    explorer = Explorer(lab, {"a": reads_a_lot, "b": reads_a_lot})
    await explorer.replay("AAAAAABBBBBB")  # a fresh explorer's first run meets its keys: the next is steady

    def evals() -> int:
        with lab.sync_client() as c:
            return int(c.info("commandstats").get("cmdstat_eval", {}).get("calls", 0))

    before = evals()
    run = await explorer.replay("ABABABABABAB")
    assert len(run.steps) == 12 and run.final[key] == "2"
    assert [s.changed for s in run.steps].count(()) == 10  # the ten reads change nothing, and the trace says so
    assert evals() - before <= 5  # reset, first state, two writes, last state: not one round trip per step


async def test_traces_read_as_words_not_python_reprs(lab):
    """An actor's return value and a reply print as a learner reads them: Outcome.DOC_DONE, {d1}."""
    from labkit.lessons.race_demo import incident

    session = await incident(lab.child("plain"), "naive").session()
    for actor in ["reconciler", "worker", "worker", "reconciler", "reconciler", "reconciler"]:
        await session.step(actor)
    run = await session.finish()
    assert run.steps[0].reply == "{d1}"  # SMEMBERS: not "{'d1'}"
    assert run.steps[4].reply == "{}"  # an empty set: not "set()"
    actors = run.trace().splitlines()[-1]
    assert "worker: finished after 2 steps, returned Outcome.DOC_DONE" in actors
    assert "reconciler: finished after 4 steps;" not in actors and "<" not in actors and "None" not in actors
