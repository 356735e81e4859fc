"""Benchmark for rule 3: the explorer vs random stress testing, and what each fix costs.

Run ``python benchmarks/race.py``; the last line printed is one JSON object.

* explorer: full enumeration of the incident scenario (naive and re-check
  variants), repeated; time to the first failing schedule on the first pass.
* stress: the same two actors run freely, many times, until DONE->FAIL shows
  up, per seed, in three modes (no delays; random delays before each command;
  random start offsets). The headline ``stress_*`` keys are medians over seeds
  for the naive variant in ``stress_mode``; ``stress_modes`` has all of them.
  These runs record no step history (``history=False``): free-running actors
  as a team would hunt them. ``stress_with_history`` repeats the re-check
  variant without delays with the history recorded (a snapshot after each
  write), to show how much that observation shifts the timing it watches.
* fix_cost: 200 documents in the incident's state; 4 workers finish their last
  tasks while 2 reconcilers sweep, per variant; wall time relative to naive,
  and how many documents ended FAIL although they were DONE.
* sync: the lost update with sync redis-py actors run in threads (and one
  sync beside one async actor): schedules, failing, seconds.
* real_library: rq's own ``StartedJobRegistry.cleanup`` against its own
  ``Worker.handle_job_success`` (rq pinned, fetched from PyPI into
  ``~/.cache/labkit-bench/`` at run time), and the WATCH fix: every schedule.
* shared_server: the incident's full enumeration on the private server and on a
  second real server reached through ``REDIS_URL`` that holds 1,000,000 foreign
  keys (started on a private Unix socket, preloaded, stopped after): schedules
  per second on each, and their ratio (the bar: within 2x).

It starts its own private Redis server (``redis_target()``), or uses REDIS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from labkit.instruments.explorer import Explorer  # noqa: E402
from labkit.lessons import rq_case  # noqa: E402
from labkit.lessons.race_demo import contention_cost, incident  # noqa: E402
from labkit.redis.server import EmbeddedRedis  # noqa: E402
from labkit.redis.target import URL_ENV, RedisTarget, redis_target  # noqa: E402

STRESS_MODES = {
    "no-delays": {"jitter": 0.0, "start_spread": 0.0},
    "jitter-1ms": {"jitter": 0.001, "start_spread": 0.0},
    "start-spread-10ms": {"jitter": 0.0, "start_spread": 0.010},
}
HEADLINE_MODE = "start-spread-10ms"


def _median(values: list[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return round(statistics.median(found), 4) if found else None


async def measure_explorer(target: RedisTarget, variant: str, repeats: int) -> dict[str, Any]:
    explorer = incident(target.child(f"ex-{variant}"), variant)
    passes = [await explorer.explore() for _ in range(repeats)]
    first = passes[0]
    return {
        "schedules": first.schedules,
        "failing": len(first.failing),
        "found_on_first_enumeration": first.first_failure is not None,
        "seconds_to_first_failure_first_pass": round(first.seconds_to_first_failure or 0, 4),
        "seconds_to_first_failure": _median([p.seconds_to_first_failure for p in passes]),
        "seconds_full_enumeration": _median([p.seconds for p in passes]),
        "schedules_per_second": round(statistics.median(p.schedules_per_second for p in passes), 1),
        "first_failing_schedule": first.first_failure.schedule_id if first.first_failure else None,
    }


async def measure_stress(target: RedisTarget, variant: str, seeds: list[int], max_runs: int,
                         budget: float) -> dict[str, Any]:
    explorer = incident(target.child(f"st-{variant}"), variant)
    out: dict[str, Any] = {}
    for mode, options in STRESS_MODES.items():
        runs, secs, found = [], [], 0
        for seed in seeds:
            result = await explorer.stress(max_runs, seeds=[seed], stop_at_first_failure=True,
                                           time_budget=budget, history=False, **options)
            if result.runs_to_first_failure is not None:
                found += 1
                runs.append(result.runs_to_first_failure)
                secs.append(result.seconds_to_first_failure)
            else:  # not found within the cap: count the whole effort, flagged by found < seeds
                runs.append(result.runs)
                secs.append(result.seconds)
        out[mode] = {"runs_to_first_failure": _median(runs), "seconds_to_first_failure": _median(secs),
                     "seeds_that_found_it": f"{found}/{len(seeds)}", **options}
    return out


def _enumeration(result: Any) -> dict[str, Any]:
    first = result.seconds_to_first_failure
    return {"schedules": result.schedules, "failing": len(result.failing), "seconds": round(result.seconds, 3),
            "schedules_per_second": round(result.schedules_per_second, 1),
            "seconds_to_first_failure": round(first, 4) if first is not None else None,
            "first_failing_schedule": result.first_failure.schedule_id if result.first_failure else None}


def _sync_get_then_set(client: Any, key: str) -> None:
    value = int(client.get(key))
    client.set(key, value + 1)


async def _async_get_then_set(client: Any, key: str) -> None:
    value = int(await client.get(key))
    await client.set(key, value + 1)


async def measure_sync(target: RedisTarget) -> dict[str, Any]:
    """The lost update with sync clients in threads: three sync actors; one sync beside one async."""
    key = target.key("counter")
    out = {}
    for label, actors in {"three_sync_threads": [_sync_get_then_set] * 3,
                          "sync_beside_async": [_sync_get_then_set, _async_get_then_set]}.items():
        def setup(client: Any) -> None:
            client.set(key, 0)

        def nothing_lost(run: Any, n: int = len(actors)) -> Any:
            return None if run.final[key] == str(n) else f"counter is {run.final[key]}, expected {n}"

        explorer = Explorer(target, {f"a{i}": (fn, key) for i, fn in enumerate(actors)}, setup=setup,
                            invariants=nothing_lost, name=label)
        out[label] = _enumeration(await explorer.explore())
        await explorer.cleanup()
    return out


async def measure_real_library(target: RedisTarget) -> dict[str, Any]:
    """rq's own cleanup against its own completion, fetched from PyPI at run time; then the WATCH fix."""
    module = await asyncio.to_thread(rq_case.load_rq, True, True)
    if module is None:
        return {"error": f"rq {rq_case.RQ_VERSION} could not be fetched from PyPI"}
    out: dict[str, Any] = {"library": f"rq {module.__version__}",
                           "from": os.path.dirname(os.path.dirname(module.__file__))}
    for label, fixed in (("cleanup_vs_completion", False), ("watched_cleanup_vs_completion", True)):
        explorer = rq_case.scenario(target.child(label), fixed, prefer_cache=True)  # labkit: ignore[R1] set-up before anything is timed: fetches rq once
        out[label] = _enumeration(await explorer.explore())
        await explorer.cleanup()
    return out


def _preload(url: str, n: int) -> int:
    import redis

    with redis.Redis.from_url(url) as client:
        batch = 100_000
        for start in range(0, n, batch):
            client.eval("for i = ARGV[1], ARGV[2] do redis.call('SET', 'foreign:' .. i, 'x') end", 0,
                        start, min(start + batch, n) - 1)
        return int(client.dbsize())


def _dbsize(url: str) -> int:
    import redis

    with redis.Redis.from_url(url) as client:
        return int(client.dbsize())


async def measure_shared_server(private: RedisTarget, foreign_keys: int, repeats: int) -> dict[str, Any]:
    """Schedules per second on the private server vs a REDIS_URL server holding ``foreign_keys`` other keys."""
    server = await asyncio.to_thread(EmbeddedRedis.start)
    saved = os.environ.get(URL_ENV)
    try:
        loaded = await asyncio.to_thread(_preload, server.url, foreign_keys)
        os.environ[URL_ENV] = server.url
        shared = await asyncio.to_thread(redis_target)
        figures = {}
        for label, target in (("private", private.child("sps")), ("shared", shared.child("sps"))):
            explorer = incident(target, "naive")
            passes = [await explorer.explore() for _ in range(repeats)]
            figures[label] = round(statistics.median(p.schedules_per_second for p in passes), 1)
            await explorer.cleanup()
        left = await asyncio.to_thread(_dbsize, server.url)
        return {"foreign_keys": loaded, "server": "second real server via REDIS_URL (unix socket)",
                "schedules_per_second_private": figures["private"],
                "schedules_per_second_shared": figures["shared"],
                "ratio_private_over_shared": round(figures["private"] / figures["shared"], 2),
                "within_2x": figures["private"] <= 2 * figures["shared"],
                "foreign_keys_left_intact": left == loaded}
    finally:
        if saved is None:
            os.environ.pop(URL_ENV, None)
        else:
            os.environ[URL_ENV] = saved
        await asyncio.to_thread(server.stop)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    target = redis_target().child("bench-race")  # labkit: ignore[R1] set-up before any task runs
    seeds = list(range(1, args.seeds + 1))
    try:
        explorer = {v: await measure_explorer(target, v, args.repeats) for v in ("naive", "recheck")}
        stress = {v: await measure_stress(target, v, seeds, args.max_runs, args.budget) for v in ("naive", "recheck")}
        fix_cost = await contention_cost(target.child("cost"), args.docs, repeats=3)
        observed = incident(target.child("observed"), "recheck")
        hits = [(await observed.stress(args.max_runs, seeds=[seed], stop_at_first_failure=True,
                                      time_budget=args.budget)).runs_to_first_failure
                for seed in seeds]
        with_history = {"variant": "recheck", "mode": "no-delays",
                        "seeds_that_found_it": f"{sum(h is not None for h in hits)}/{len(seeds)}",
                        "runs_to_first_failure": _median(hits)}
        sync = await measure_sync(target.child("sync"))
        real = await measure_real_library(target.child("rq"))
        shared = await measure_shared_server(target, args.foreign_keys, args.repeats) if args.foreign_keys else None
    finally:
        await asyncio.to_thread(target.cleanup)
    naive, head = explorer["naive"], stress["naive"][HEADLINE_MODE]
    speedups = {}
    for v in ("naive", "recheck"):
        speedups[v] = {mode: (round(s["seconds_to_first_failure"] / explorer[v]["seconds_to_first_failure"], 1)
                              if s["seconds_to_first_failure"] and explorer[v]["seconds_to_first_failure"] else None)
                       for mode, s in stress[v].items()}
    return {
        "explorer_schedules": naive["schedules"],
        "explorer_failing": naive["failing"],
        "explorer_found_on_first_enumeration": naive["found_on_first_enumeration"],
        "explorer_seconds_to_first_failure": naive["seconds_to_first_failure"],
        "schedules_per_second": naive["schedules_per_second"],
        "stress_mode": HEADLINE_MODE,
        "stress_runs_to_first_failure": head["runs_to_first_failure"],
        "stress_seconds_to_first_failure": head["seconds_to_first_failure"],
        "speedup_over_stress": speedups["naive"][HEADLINE_MODE],
        "speedup_over_stress_by_variant_and_mode": speedups,
        "explorer": explorer,
        "stress_modes": stress,
        "fix_cost": fix_cost,
        "stress_with_history": with_history,
        "sync": sync,
        "real_library": real,
        "shared_server": shared,
        "seeds": len(seeds),
        "server": "REDIS_URL" if os.environ.get("REDIS_URL") else "embedded",
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="explorer passes to take medians over")
    parser.add_argument("--max-runs", type=int, default=3000, help="stress runs per seed before giving up")
    parser.add_argument("--budget", type=float, default=4.0, help="stress seconds per seed before giving up")
    parser.add_argument("--docs", type=int, default=200, help="documents in the fix-cost run")
    parser.add_argument("--foreign-keys", type=int, default=1_000_000,
                        help="keys preloaded on the second (shared) server; 0 skips that measurement")
    figures = asyncio.run(main(parser.parse_args()))
    print(json.dumps(figures))
