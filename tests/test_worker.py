"""The worker process: the rule-4 bug reproduced with the broken modes, absent with every fix."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from labkit.redis.server import EmbeddedRedis
from labkit.redis.target import RedisTarget
from labkit.tasks.procs import ProcessGroup

from labkit.lessons.heartbeat_demo import run_heartbeat_demo
from labkit.tasks.worker import BROKEN_MODES, FIXED_MODES, WorkerConfig, parse_args
from worker_procs import live_worker_children


@pytest.fixture(autouse=True)
def _no_worker_survives():
    yield
    assert live_worker_children() == [], "a worker process outlived its test"


@pytest.mark.parametrize("mode", BROKEN_MODES)
async def test_broken_mode_runs_a_task_twice(lab, mode: str) -> None:
    run = await run_heartbeat_demo(mode, target=lab)
    assert [v.worker for v in run.verdicts] == ["w1"]
    assert run.false_dead == 1  # w1 beat and worked again after the verdict
    assert run.duplicate_executions == 1
    assert len(run.ran_twice) == 1
    stale = [e for e in run.events if e.kind == "finish" and e.get("outcome") == "stale"]
    assert [e.worker for e in stale] == ["w1"]  # the zombie's completion wrote nothing
    assert run.doc_state == "DONE"
    assert run.exit_codes == {"w1": 0, "w2": 0}


@pytest.mark.parametrize("mode", FIXED_MODES)
async def test_fixed_mode_runs_every_task_once(lab, mode: str) -> None:
    run = await run_heartbeat_demo(mode, target=lab)
    assert run.verdicts == []
    assert run.false_dead == 0
    assert run.duplicate_executions == 0
    assert set(run.executions.values()) == {1} and len(run.executions) == 4
    assert run.doc_state == "DONE"
    assert run.exit_codes == {"w1": 0, "w2": 0}


def test_presets_and_flags() -> None:
    config = parse_args(["--id", "w1", "--mode", "thread"])
    assert (config.work, config.heartbeat) == ("blocking", "thread")
    assert parse_args(["--id", "w1", "--mode", "thread", "--work", "async"]).work == "async"
    assert abs(config.interval_s - config.ttl_s / 3) < 1e-9


@pytest.mark.parametrize("kwargs, message", [
    ({"id": "bad id"}, "worker id"),
    ({"id": "w1", "work": "threads"}, "work must be"),
    ({"id": "w1", "ttl_s": 0}, "ttl_s"),
    ({"id": "w1", "on_signal": "ignore"}, "on_signal"),
])
def test_bad_config_is_a_clear_error(kwargs, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkerConfig(**kwargs)


def test_cli_rejects_unknown_mode() -> None:
    done = subprocess.run([sys.executable, "-m", "labkit.tasks.worker", "--id", "w1", "--mode", "nope"],
                          capture_output=True, text=True, timeout=20)
    assert done.returncode == 2 and "invalid choice" in done.stderr
    assert "RuntimeWarning" not in done.stderr  # import labkit does not import the worker, so runpy runs one copy


async def test_a_worker_started_while_redis_restarts_waits_for_it() -> None:
    """A replacement worker whose first contact falls in a restart rides it out (patient client)."""
    server = EmbeddedRedis.start()
    target = RedisTarget(server.url, "restart:", server)
    try:
        async with ProcessGroup(target) as group:
            restarting = asyncio.create_task(asyncio.to_thread(server.restart, False, 3.0))
            while server.running:  # wait until the old server is gone
                await asyncio.sleep(0.01)
            worker = await group.start("w1", "--mode", "offload", ready=False)
            await restarting
            assert worker.alive, f"the worker died during the restart:\n{worker.output()[-800:]}"
            await worker.wait_ready(timeout=20)
            assert "Warning" not in worker.output(), worker.output()[-800:]
            client = target.async_client()
            assert await client.exists(target.key("worker", "w1")) == 1
            await client.aclose()
    finally:
        server.stop()


SCRIPT_WITHOUT_GUARD = """
import asyncio
from labkit.redis.target import redis_target
from labkit.tasks.procs import ProcessGroup

print("script body ran", flush=True)


async def main():
    async with ProcessGroup(redis_target()) as group:
        worker = await group.start("w1", "--mode", "offload")
        print("worker ready", worker.alive, flush=True)

asyncio.run(main())
"""


def test_a_script_without_a_main_guard_starts_workers(lab, tmp_path) -> None:
    """multiprocessing runs the starter's script in each child first; the lab's workers must not."""
    script = tmp_path / "starts_workers.py"
    script.write_text(SCRIPT_WITHOUT_GUARD)
    env = {**os.environ, "REDIS_URL": lab.url, "LABKIT_PREFIX": lab.prefix + "script:"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.splitlines() == ["script body ran", "worker ready True"], done.stdout + done.stderr[-1500:]


def test_the_comparison_point_names_the_hurt_modes_and_groups_the_clean_ones() -> None:
    from labkit.lessons.heartbeat_demo import HeartbeatComparison, HeartbeatRun
    from labkit.tasks.execlog import Event

    def run(mode: str, hurt: bool) -> HeartbeatRun:
        events = [Event("ran", "w1", 1.0, {"task": "d1:1"})]
        if hurt:  # declared dead, then beat again and ran the task a second time
            events += [Event("dead", "w1", 2.0), Event("beat", "w1", 3.0), Event("ran", "w2", 4.0, {"task": "d1:1"})]
        return HeartbeatRun(mode, 1.0, 0.1, 0.0, events, [], "DONE", 5.0)

    modes = HeartbeatComparison([run("same-loop", True), run("offload", False), run("thread", False)])
    assert modes.point == "Live workers declared dead / tasks run twice: same-loop 1/1; offload, thread 0/0."
    assert HeartbeatComparison([run("thread", False)]).point.endswith(": thread 0/0.")


SCRIPT_SHARING_THE_FORK_SERVER = """
import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from labkit.redis.target import redis_target
from labkit.tasks.procs import ProcessGroup


def square(x):
    return x * x


async def main():
    async with ProcessGroup(redis_target()) as group:
        await group.start("w1", "--mode", "offload")  # the lab's fork server is up now
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("forkserver")) as pool:
            print("pool says", pool.submit(square, 7).result(timeout=30), flush=True)

if __name__ == "__main__":
    asyncio.run(main())
"""


def test_a_process_pool_sharing_the_fork_server_still_gets_its_main(lab, tmp_path) -> None:
    """multiprocessing keeps one fork server per process (Python 3.14's default start method); only the lab's
    workers skip the starter's __main__, so a learner's pool can still run a function defined in the script."""
    script = tmp_path / "shares_the_server.py"
    script.write_text(SCRIPT_SHARING_THE_FORK_SERVER)
    env = {**os.environ, "REDIS_URL": lab.url, "LABKIT_PREFIX": lab.prefix + "script:"}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90, env=env,
                          cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "pool says 49\n"), done.stderr[-1500:]
