"""Checks for notebook 03 (rule 3: race-safe recovery).

Each check runs the learner's function inside the interleaving explorer, over
every schedule of a few small scenarios, against the real Redis. The
scenarios are chosen so that both the bug and the over-correction show:

* ``03.safe-reconciler`` - ``async def reconcile(store) -> None``. Must never
  turn DONE into FAIL, never requeue a finished task or a task twice (even with
  two reconcilers running), never lose a task, still FAIL a stuck document,
  and leave a document with a live worker alone.
* ``03.zombie-completion`` - ``async def complete(store, task_id, epoch) -> bool``.
  Must complete under the current epoch (and mark the document DONE when it
  was the last task), refuse a stale epoch or a terminal document, and never
  lose the DONE when two workers finish at once.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Callable, Optional, Sequence

from .framework import NotYet, exercise, require_function
from ..instruments.explorer import ExploreResult, RunResult
from ..redis.target import RedisTarget, redis_target
from ..lessons.race_demo import (DOC, T1, T2, INCIDENT_INVARIANTS, doc_state, done_never_downgraded,
                         no_finished_task_requeued, no_task_lost, no_task_queued_twice,
                         progress_consistent, queue_of, scenario, task_field, terminal_states_stay)
from ..tasks.completion import complete_naive
from ..tasks.reconcilers import reconcile_lua
from ..tasks.store import DONE, FAIL, QUEUED, Store

_MAX_SCHEDULES = 3000


def _require_async(answer: Any, what: str, signature: str) -> None:
    require_function(answer, f"check(..., my_{what}) with an `{signature}`", is_async=True, what=what,
                     why=f"Your {what} must be an `{signature}`: it talks to Redis through the async client, "
                     "so it has to be a coroutine function.")


def _short_trace(run: RunResult, limit: int = 10) -> str:
    lines = [f"  {r.index}. {r.actor}: {r.label}" for r in run.steps]
    if len(lines) > limit:
        lines = lines[: limit // 2] + ["  ..."] + lines[-(limit // 2):]
    return "\n".join(lines)


def _raise_on(result: ExploreResult, hint: Callable[[RunResult], str]) -> None:
    """Turn the first failing schedule into a specific hint."""
    run = result.first_failure
    if run is None:
        return
    if run.outcome == "error":
        extra = ""
        if "WatchError" in run.message:
            extra = (" A WatchError means a watched key changed before EXEC: catch it and go round again "
                     "(WATCH, read, decide, MULTI, EXEC).")
        raise NotYet(f"In schedule {run.schedule_id} of scenario {result.name!r}, {run.message}.{extra}\n"
                     f"{_short_trace(run)}")
    if run.outcome in ("hung", "step-bound"):
        raise NotYet(f"In scenario {result.name!r}, schedule {run.schedule_id}: {run.message}.")
    raise NotYet(f"{hint(run)}\nScenario {result.name!r}, schedule {run.schedule_id}:\n{_short_trace(run)}")


async def _explore(target: RedisTarget, setup: str, actors: dict[str, Any], invariants: Sequence[Callable],
                   name: str, preemption_bound: Optional[int] = None) -> ExploreResult:
    explorer = scenario(target, setup, actors, invariants, name=name, step_timeout=3.0, max_steps=300)
    return await explorer.explore(max_schedules=_MAX_SCHEDULES, stop_at_first_failure=True,
                                  preemption_bound=preemption_bound)


def _fresh_target() -> RedisTarget:
    return redis_target().child(f"check-{uuid.uuid4().hex[:8]}")


# --- 03.safe-reconciler --------------------------------------------------------------------

def _reconciler_hint(run: RunResult) -> str:
    msg = run.message
    if "DONE ->" in msg:
        return (f"{msg}. The worker finished d1 between your reconciler's look-up and its write, and the "
                "write acted on the stale look-up. A re-check just before the write only narrows that gap. "
                "Make the decision and the write one atomic step: WATCH the document's keys, re-read, then "
                "write in MULTI/EXEC and retry on WatchError; or do the check and the write in one Lua script.")
    if "already finished" in msg:
        return (f"{msg}. The task's state changed after you read it. Check that the task is still RUNNING "
                "in the same atomic step as the requeue (WATCH its key too, or check it inside the script).")
    if "twice" in msg:
        return (f"{msg}. Two reconcilers (two replicas, or one run twice) both saw the task RUNNING and both "
                "requeued it. Only requeue a task that is still RUNNING, checked atomically with the requeue.")
    if "lost" in msg:
        return (f"{msg}. An orphaned task must go back on the queue (store.add_requeue queues the commands), "
                "or its document will stay RUNNING forever.")
    return msg


def _requeued_once_and_fenced(run: RunResult) -> Optional[str]:
    final = run.final
    waiting = queue_of(final).count(T2)
    if waiting != 1:
        return (f"{DOC} is orphaned (its worker's lease lapsed) with {T2} still RUNNING, so {T2} must be "
                f"requeued exactly once; it is on the queue {waiting} times at the end")
    if task_field(final, T2, "state") != QUEUED:
        return f"{T2} is back on the queue but its state is {task_field(final, T2, 'state')}, not QUEUED"
    if int(task_field(final, T2, "epoch") or 0) <= 1:
        return (f"{T2} was requeued without bumping its epoch, so the old worker's epoch-1 token still looks "
                "valid. Bump the epoch as part of the requeue (store.add_requeue does)")
    if doc_state(final) != "RUNNING":
        return f"{DOC} still has work to do, but your reconciler left it {doc_state(final)}"
    return None


def _stuck_marked_fail(run: RunResult) -> Optional[str]:
    if doc_state(run.final) != FAIL:
        return (f"{DOC} is RUNNING with no incomplete task and no live worker: it is stuck (its worker died "
                f"between its last task and the DONE write). The policy marks it FAIL so the user can retry; "
                f"your reconciler left it {doc_state(run.final)}")
    return None


def _left_alone(run: RunResult) -> Optional[str]:
    if run.final != run.initial:
        changed = sorted(run.final.short(k) for k in set(run.final) | set(run.initial)
                         if run.final.get(k) != run.initial.get(k))
        return (f"{DOC}'s worker still holds a fresh lease (key doc:{DOC}:lease), so it is not orphaned, "
                f"but your reconciler changed {', '.join(changed)}. Skip documents whose lease exists "
                "(store.orphaned_docs() does that)")
    return None


@exercise("03.safe-reconciler", title="Write the race-safe reconciler", time_limit=60)
async def safe_reconciler(answer: Any) -> str:
    _require_async(answer, "reconciler", "async def reconcile(store) -> None")
    target = _fresh_target()  # labkit: ignore[R1] set-up before any task runs

    async def worker(store: Store) -> Any:
        return await complete_naive(store, T2, 1)

    try:
        total = 0
        result = await _explore(target, "incident", {"worker": worker, "reconciler": answer},
                                INCIDENT_INVARIANTS, "worker finishes d1-t2 while you reconcile")
        _raise_on(result, _reconciler_hint)
        total += result.schedules
        # Two replicas each retrying on WatchError have thousands of schedules; every race
        # between them needs at most two preemptions, so that bound keeps the check quick.
        for setup, actors, invariants, name, bound in (
            ("stuck", {"reconciler": answer}, [terminal_states_stay, _stuck_marked_fail], "stuck document", None),
            ("incident", {"reconciler": answer}, [_requeued_once_and_fenced, no_task_lost], "abandoned task", None),
            ("incident", {"reconciler": answer, "replica": answer},
             [no_task_queued_twice, no_finished_task_requeued, no_task_lost], "two reconciler replicas", 2),
            ("leased", {"reconciler": answer}, [_left_alone], "worker still alive", None),
        ):
            result = await _explore(target, setup, actors, invariants, name, bound)
            _raise_on(result, _reconciler_hint)
            total += result.schedules
    finally:
        await asyncio.to_thread(target.cleanup)
    return (f"Across {total} schedules of 5 scenarios your reconciler never turned DONE into FAIL, never "
            "requeued a finished task or a task twice, lost nothing, failed the stuck document and left the "
            "live one alone.")


# --- 03.zombie-completion ------------------------------------------------------------------

def _fix_zombie_hint(run: RunResult) -> str:
    msg = run.message
    if "FAIL -> DONE" in msg:
        return (f"{msg}. A late worker must not revive a FAIL document: check that the document is still "
                "RUNNING in the same atomic step as the completion, and return False if not.")
    if "counted twice" in msg:
        return (f"{msg}. The task was completed twice: only a task that is still RUNNING under the caller's "
                "epoch may be completed, and that check must be atomic with the write.")
    return msg


def _done_by_live_worker(run: RunResult) -> Optional[str]:
    got = run.result("worker")
    if not got:
        return (f"A live worker finishing {T2}, the last task, under its current epoch must complete it and "
                f"return True; your function returned {got!r}")
    if task_field(run.final, T2, "state") != DONE or doc_state(run.final) != DONE:
        return (f"A live worker completed {T2}, the last task, yet {T2} is {task_field(run.final, T2, 'state')} "
                f"and {DOC} is {doc_state(run.final)}: the last completion must mark the document DONE")
    return None


def _zombie_refused(run: RunResult) -> Optional[str]:
    if run.result("zombie"):
        return (f"The zombie (epoch 1) completed {T2} although worker w2 holds it now under epoch 3, and "
                f"returned {run.result('zombie')!r}. Compare the caller's epoch with the task's current epoch "
                "in the same atomic step as the write (WATCH + MULTI/EXEC, or one Lua script) and return "
                "False when they differ")
    return None


def _not_requeued_and_done(run: RunResult) -> Optional[str]:
    final = run.final
    if task_field(final, T2, "state") == DONE and T2 in queue_of(final):
        return (f"The zombie completed {T2} after the reconciler had handed it back to the queue under a new "
                "epoch, so it will run again: a stale epoch must make the completion a no-op")
    if run.result("zombie") and task_field(final, T2, "state") != DONE:
        return f"Your function returned {run.result('zombie')!r} but {T2} is not DONE"
    return None


def _both_completed(run: RunResult) -> Optional[str]:
    for name in ("w1", "w2"):
        if not run.result(name):
            return (f"Two live workers finished d1's two tasks at the same moment; {name}'s completion was "
                    f"rejected (returned {run.result(name)!r}). Only a stale epoch or a finished document "
                    "should make it fail; on a WatchError, retry")
    if doc_state(run.final) != DONE:
        return (f"Both tasks are finished but {DOC} ended {doc_state(run.final)}: each worker thought the "
                "other one was last. Decide 'was I the last?' in the same atomic step as the completion")
    return None


@exercise("03.zombie-completion", title="Make worker completion safe against a zombie", time_limit=60)
async def zombie_completion(answer: Any) -> str:
    _require_async(answer, "completion", "async def complete(store, task_id, epoch) -> bool")
    target = _fresh_target()  # labkit: ignore[R1] set-up before any task runs

    def attempt(tid: str, epoch: int) -> Callable[[Store], Any]:
        async def run(store: Store) -> Any:
            return await answer(store, tid, epoch)
        return run

    plans = (
        ("incident", {"worker": attempt(T2, 1)}, [_done_by_live_worker, progress_consistent], "live worker"),
        ("takeover", {"zombie": attempt(T2, 1), "worker": attempt(T2, 3)},
         [_zombie_refused, _done_by_live_worker, progress_consistent, terminal_states_stay],
         "zombie vs the new owner"),
        ("incident", {"reconciler": reconcile_lua, "zombie": attempt(T2, 1)},
         [_not_requeued_and_done, progress_consistent, terminal_states_stay, done_never_downgraded],
         "zombie vs the reconciler"),
        ("failed", {"zombie": attempt(T2, 1)}, [terminal_states_stay, progress_consistent], "document already FAIL"),
        ("two-running", {"w1": attempt(T1, 1), "w2": attempt(T2, 1)}, [_both_completed, progress_consistent],
         "two workers finish together"),
    )
    try:
        total = 0
        for setup, actors, invariants, name in plans:
            result = await _explore(target, setup, actors, invariants, name, 2)
            _raise_on(result, _fix_zombie_hint)
            total += result.schedules
    finally:
        await asyncio.to_thread(target.cleanup)
    return (f"Across {total} schedules of {len(plans)} scenarios: live workers completed and marked DONE exactly "
            "once, zombies with a stale epoch changed nothing, and a FAIL document stayed FAIL.")


__all__ = ["safe_reconciler", "zombie_completion"]
