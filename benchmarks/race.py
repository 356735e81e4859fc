"""Benchmark for rule 3: the explorer vs random stress testing, and what each fix costs.

Run ``python benchmarks/race.py``; the last line printed is one JSON object.

* explorer: full enumeration of the incident scenario (naive and re-check
  variants), repeated; time to the first failing schedule on the first pass.
* stress: the same two actors run freely, many times, until DONE->FAIL shows
  up, per seed, in three modes (no delays; random delays before each command;
  random start offsets). The headline ``stress_*`` keys are medians over seeds
  for the naive variant in ``stress_mode``; ``stress_modes`` has all of them.
* fix_cost: 200 documents in the incident's state; 4 workers finish their last
  tasks while 2 reconcilers sweep, per variant; wall time relative to naive,
  and how many documents ended FAIL although they were DONE.

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

from labkit.redis.target import RedisTarget, redis_target  # noqa: E402
from labkit.lessons.race_demo import contention_cost, incident  # noqa: E402

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
            result = await explorer.stress(max_runs, seed=seed, time_budget=budget, **options)
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


async def main(args: argparse.Namespace) -> dict[str, Any]:
    target = redis_target().child("bench-race")  # labkit: ignore[R1] set-up before any task runs
    seeds = list(range(1, args.seeds + 1))
    try:
        explorer = {v: await measure_explorer(target, v, args.repeats) for v in ("naive", "recheck")}
        stress = {v: await measure_stress(target, v, seeds, args.max_runs, args.budget) for v in ("naive", "recheck")}
        fix_cost = await contention_cost(target.child("cost"), args.docs, repeats=3)
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
    figures = asyncio.run(main(parser.parse_args()))
    print(json.dumps(figures))
