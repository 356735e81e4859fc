"""Graceful shutdown of real worker processes on real signals: exit 0, nothing lost, nothing twice."""

from __future__ import annotations

import pytest

from labkit.lessons.shutdown_demo import run_shutdown_demo
from worker_procs import live_worker_children


@pytest.fixture(autouse=True)
def _no_worker_survives():
    yield
    assert live_worker_children() == [], "a worker process outlived its test"


def _nothing_lost_or_twice(run) -> None:
    assert run.doc_state_after_drain == "DONE"
    assert set(run.executions.values()) == {1} and len(run.executions) == 2


@pytest.mark.parametrize("scenario", ["graceful", "sigint"])
async def test_signal_finishes_the_task_and_exits_0(lab, scenario: str) -> None:
    run = await run_shutdown_demo(scenario, target=lab, drain=True)
    assert run.exit_code == 0
    assert run.states_at_exit == {"d1-t1": "DONE", "d1-t2": "QUEUED"}  # finished one, took no more
    assert run.shutdown_s < 1.5
    _nothing_lost_or_twice(run)


async def test_task_too_slow_for_the_grace_is_released(lab) -> None:
    run = await run_shutdown_demo("too-slow", target=lab, drain=True)
    assert run.exit_code == 0 and run.shutdown_s < 0.5 + 0.6
    assert run.released == ["d1-t1"] and run.left_running == []
    _nothing_lost_or_twice(run)


async def test_second_signal_releases_at_once(lab) -> None:
    run = await run_shutdown_demo("second-signal", target=lab, drain=True)
    assert run.exit_code == 0
    assert run.signals[1][0] - run.signals[0][0] > 0.2
    assert run.exited_at - run.signals[1][0] < 0.5  # well before the 3 s grace
    assert run.released == ["d1-t1"]
    _nothing_lost_or_twice(run)


async def test_blocked_in_a_sync_call_shuts_down_only_when_it_returns(lab) -> None:
    run = await run_shutdown_demo("blocked-sync", target=lab, drain=True)
    assert run.exit_code == 0 and run.left_running == []
    assert run.shutdown_s > 1.5  # the 2 s call held the loop; the 0.5 s grace could not apply
    _nothing_lost_or_twice(run)


async def test_worker_that_just_dies_leaves_its_task_running_until_recovery(lab) -> None:
    run = await run_shutdown_demo("just-dies", target=lab, drain=True)
    assert run.exit_code == -15
    assert run.left_running == ["d1-t1"]
    assert 0 < run.stuck_running_s <= 0.5 + 0.05 + 0.1  # TTL + scan + slack
    _nothing_lost_or_twice(run)
