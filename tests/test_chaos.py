"""The chaos run: real workers, kill -9, SIGTERM, a frozen worker and a Redis restart; the invariants hold every time."""

from __future__ import annotations

import signal

import pytest

from labkit.tasks.chaos import Fault, _Fleet, fault_schedule, run_chaos
from labkit.tasks.procs import ProcessGroup
from worker_procs import live_worker_children, pid_alive


@pytest.fixture(autouse=True)
def _no_worker_survives():
    yield
    assert live_worker_children() == [], "a worker process outlived its test"


@pytest.mark.parametrize("seed", [3, 7])  # the seeds notebook 06 runs: its text says what they show
async def test_invariants_hold_under_chaos(seed: int) -> None:
    result = await run_chaos(seed)
    assert result.ok, str(result)
    assert (result.kills, result.sigterms, result.redis_restarts, result.freezes) == (3, 2, 1, 1)
    assert result.tasks_done == result.effective_completions == 30
    assert result.done_to_fail == 0 and result.lost == []
    assert result.crashed == [], f"workers died on their own (a Redis restart should be ridden out): {result.crash_logs}"
    assert all(code == 0 for code in result.sigterm_exit_codes.values()), result.sigterm_exit_codes
    assert result.dead_verdicts >= result.kills + result.freezes, str(result)  # every killed or frozen worker was noticed
    # the frozen worker's task was taken over and ran again; the zombie's own completion was fenced off
    frozen = next(f for f in result.fired if f.fault.kind == "freeze")
    assert frozen.task and result.executions[frozen.task] >= 2, (frozen, result.executions)
    assert result.stale_completions >= 1 and result.duplicate_executions >= 1, str(result)
    assert not pid_alive(result.server_pid), "the chaos run left its Redis server running"
    assert result.plot() is not None


async def test_a_worker_killed_as_the_last_task_finishes_is_still_declared_dead() -> None:
    """The kill lands when the one task is DONE: the killed worker holds nothing, yet its lease must lapse
    and be ruled on before the run counts verdicts."""
    result = await run_chaos(0, workers=1, tasks=1, kills=1, sigterms=0, redis_restarts=0, freezes=0)
    assert [f.fault.after_done for f in result.fired] == [1] and result.tasks_done == 1, str(result)
    assert result.dead_verdicts == 1, str(result)


async def test_a_woken_frozen_worker_that_dies_is_counted_as_crashed(lab) -> None:
    """A frozen worker works on as an extra once woken; if it then dies on its own, the run says so, once."""
    async with ProcessGroup(lab) as group:
        fleet = _Fleet(group, ["--mode", "offload"])
        await fleet.start(1)
        extra = fleet.slots[0]
        fleet.frozen.append(extra)  # as freeze() leaves it: out of its slot, signalled by us...
        fleet.stopped.append(extra)
        await fleet.replace(0)
        await fleet.replace_crashed()
        assert fleet.crashed == []  # ...and alive, so no crash
        extra.send(signal.SIGKILL)
        assert await extra.wait_exit(10) is not None
        await fleet.replace_crashed()
        await fleet.replace_crashed()
        assert fleet.crashed == [extra.id] and extra.id in fleet.crash_logs
        assert [p.id for p in fleet.slots] == ["w0-restart1"]  # an extra is not replaced


def test_same_seed_same_faults() -> None:
    assert fault_schedule(5) == fault_schedule(5)
    assert fault_schedule(5) != fault_schedule(6)
    faults = fault_schedule(5, workers=4, tasks=40, kills=2, sigterms=3, redis_restarts=1)
    assert sorted(f.kind for f in faults) == ["freeze", "kill", "kill", "redis-restart", "sigterm", "sigterm",
                                              "sigterm"]
    # a freeze is drawn after the others: the seeds' other faults stay where they were
    assert [f for f in fault_schedule(7) if f.kind != "freeze"] == fault_schedule(7, freezes=0)
    assert all(isinstance(f, Fault) and 1 <= f.after_done <= 40 for f in faults)
    assert all(0 <= f.slot < 4 for f in faults if f.kind != "redis-restart")
    assert [f.after_done for f in faults] == sorted(f.after_done for f in faults)


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "workers must be an int from 1"),
    ({"tasks": -3}, "tasks must be an int from 1"),
    ({"kills": -1}, "kills must be"),
    ({"freezes": 9}, "freezes must be an int from 0 to 5"),
    ({"seed": "x"}, "seed must be"),
    ({"latency_s": 0}, "latency_s"),
    ({"timeout_s": -1}, "timeout_s"),
])
async def test_bad_input_is_a_clear_error(kwargs, message: str) -> None:
    seed = kwargs.pop("seed", 1)
    with pytest.raises(ValueError, match=message):
        await run_chaos(seed, **kwargs)
