"""The explorer on a real library: RQ's own cleanup against its own job completion (sync redis-py, in threads)."""

from __future__ import annotations

import pytest

from labkit.lessons import rq_case


@pytest.fixture(scope="module")
def rq_installed():
    module = rq_case.load_rq()
    if module is None:  # a declared dependency: missing means a broken install, not a skip
        pytest.fail(f"rq {rq_case.RQ_VERSION} is a declared dependency; pip install rq=={rq_case.RQ_VERSION}")
    return module


async def test_rq_cleanup_marks_a_finished_job_failed(lab, rq_installed):
    explorer = rq_case.scenario(lab.child("bug"))
    result = await explorer.explore(stop_at_first_failure=True)
    first = result.first_failure
    assert first is not None and "finished -> failed" in first.message
    touched = set(first.initial) | {k for step in first.steps for k in step.state}
    assert touched and all(k.startswith(lab.prefix) for k in touched)  # RQ's own keys too: a shared server is safe
    labels = [(s.actor, s.label.split()[0]) for s in first.steps]
    check = labels.index(("cleanup", "HGETALL"))  # the cleanup read the job's status...
    commit = labels.index(("worker", "MULTI/EXEC"))  # ...the worker's completion committed...
    assert check < commit < max(i for i, (a, _) in enumerate(labels) if a == "cleanup")  # ...then cleanup wrote
    failing_write = first.steps[-1].full_label
    assert "status failed" in failing_write and "JobStatus" not in failing_write  # what went over the wire
    again = await explorer.replay(first.schedule_id)
    assert again.message == first.message and not again.read_real_time  # time.time() is pinned
    # the same commands on the same keys; rq's datetime.now() stamps inside them differ (the explorer cannot pin those)
    assert [(s.actor, s.label.split()[:2]) for s in again.steps] == [(s.actor, s.label.split()[:2]) for s in first.steps]
    await explorer.cleanup()


async def test_watching_the_job_closes_the_window(lab, rq_installed):
    explorer = rq_case.scenario(lab.child("fix"), fixed=True)
    result = await explorer.explore(preemption_bound=2)
    assert result.schedules > 10 and not result.failing
    assert any("WatchError" in s.reply for r in result.runs for s in r.steps)  # the abort that saves it
    await explorer.cleanup()
