"""Rules 4 and 5 benchmark: heartbeat verdicts, duplicate work, and shutdown time.

Run ``python benchmarks/heartbeat.py``. Real worker processes, a real Redis and
real signals, measured side by side in one run; the last line printed is one
JSON object:

- ``ttl_s``, ``scan_interval_s``: the heartbeat TTL and the recovery scan interval used;
- ``detection_latency_s``: from ``kill -9`` of a busy worker to the recovery
  loop's "dead" verdict (mean, max over trials) and the target (TTL + one scan);
- ``false_dead``: "dead" verdicts on workers that were alive, per heartbeat mode,
  under a blocking workload (one model call twice the TTL per run); target 0
  for the fixed modes;
- ``duplicate_executions``: model calls beyond the first per task, per mode;
- ``shutdown_s``: SIGTERM to process exit, for an idle worker, a worker mid-task
  (it finishes the task), a task too slow for the grace period (released),
  a second signal, and a worker blocked in a sync call.
"""

from __future__ import annotations

import asyncio
import json
import signal
import statistics
import sys
import time
import uuid

from labkit.tasks import execlog
from labkit.lessons.heartbeat_demo import run_heartbeat_demo
from labkit.redis.target import redis_target
from labkit.tasks.procs import ProcessGroup
from labkit.tasks.recovery import recovery_loop
from labkit.lessons.shutdown_demo import run_shutdown_demo
from labkit.tasks.store import Store
from labkit.tasks.worker import FIXED_MODES, PRESETS

TTL_S = 0.5
SCAN_S = 0.1
REPEATS = 2
KILL_TRIALS = 5


async def detection_latency(target) -> dict[str, float]:
    """Kill -9 a worker in the middle of a task; time until the recovery loop says "dead"."""
    latencies = []
    for trial in range(KILL_TRIALS):
        run_target = target.child(f"kill{trial}-{uuid.uuid4().hex[:4]}")
        client = run_target.async_client()
        store, stop = Store(client, run_target), asyncio.Event()
        try:
            async with ProcessGroup(run_target) as group:
                proc = await group.start("w1", "--mode", "offload", "--ttl", str(TTL_S), "--latency", "3")
                recovery = asyncio.create_task(recovery_loop(run_target, stop, ttl_s=TTL_S, scan_s=SCAN_S))
                await store.create_doc("d1", 1)
                while not any(e.kind == "claim" for e in await execlog.read(client, run_target)):
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05 + 0.07 * trial)  # kill at different points of the beat cycle
                proc.send(signal.SIGKILL)
                killed = time.time()
                while not any(e.kind == "dead" for e in await execlog.read(client, run_target)):
                    await asyncio.sleep(0.01)
                verdict = next(e for e in await execlog.read(client, run_target) if e.kind == "dead")
                latencies.append(verdict.t - killed)
                stop.set()
                await recovery
        finally:
            await client.aclose()
            run_target.cleanup()  # labkit: ignore[R1] clean-up after every task has ended
    return {"mean": round(statistics.mean(latencies), 3), "max": round(max(latencies), 3),
            "target": TTL_S + SCAN_S, "within_target": max(latencies) <= TTL_S + SCAN_S}


async def idle_shutdown(target) -> float:
    run_target = target.child(f"idle-{uuid.uuid4().hex[:4]}")
    try:
        async with ProcessGroup(run_target) as group:
            proc = await group.start("w1", "--mode", "offload", "--ttl", str(TTL_S))
            await asyncio.sleep(0.2)
            proc.send(signal.SIGTERM)
            code = await proc.wait_exit(10)
            assert code == 0, f"idle worker exited with {code}"
            return round(proc.exited_at - proc.signalled_at, 3)
    finally:
        run_target.cleanup()  # labkit: ignore[R1] clean-up after every task has ended


async def main() -> dict[str, object]:
    target = redis_target()  # labkit: ignore[R1] set-up before any task runs
    try:
        false_dead: dict[str, int] = {}
        duplicates: dict[str, int] = {}
        for mode in PRESETS:
            false_dead[mode] = duplicates[mode] = 0
            for _ in range(REPEATS):
                run = await run_heartbeat_demo(mode, ttl_s=TTL_S, scan_s=SCAN_S, tasks=6, latency_s=0.2,
                                               slow_latency_s=2 * TTL_S, target=target)
                false_dead[mode] += run.false_dead
                duplicates[mode] += run.duplicate_executions
            print(f"{mode}: false dead {false_dead[mode]}, duplicates {duplicates[mode]}", file=sys.stderr)
        latency = await detection_latency(target)
        print(f"detection latency {latency}", file=sys.stderr)
        shutdown = {"idle": await idle_shutdown(target)}
        names = {"graceful": "mid_task_finishes", "too-slow": "too_slow_released",
                 "second-signal": "second_signal", "blocked-sync": "blocked_in_sync_call"}
        for scenario, key in names.items():
            run = await run_shutdown_demo(scenario, target=target)
            assert run.exit_code == 0 and not run.left_running, str(run)
            shutdown[key] = round(run.shutdown_s, 3)
        return {
            "ttl_s": TTL_S,
            "scan_interval_s": SCAN_S,
            "detection_latency_s": latency,
            "false_dead": false_dead,
            "duplicate_executions": duplicates,
            "fixed_modes_clean": all(false_dead[m] == 0 and duplicates[m] == 0 for m in FIXED_MODES),
            "runs_per_mode": REPEATS,
            "shutdown_s": shutdown,
        }
    finally:
        target.cleanup()  # labkit: ignore[R1] clean-up after every task has ended


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
