"""The DONE->FAIL incident as explorer scenarios: starting states, actors, invariants.

The incident (DESIGN.md, rule 3): document ``d1`` has two tasks. ``d1-t1`` is
done; worker ``w1`` is finishing ``d1-t2`` but its heartbeat has lapsed, so the
crash reconciler treats ``d1`` as orphaned. Whether the document ends DONE or
wrongly FAIL depends only on how the two interleave - which is exactly what
:class:`labkit.instruments.explorer.Explorer` enumerates.

A *variant* pairs a worker completion with a reconciler (see
:data:`VARIANTS`). The invariants are plain functions of a run, reused by the
exercise checks in :mod:`labkit.exercises.rule3`.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

import redis.asyncio as aredis

from ..tasks.completion import Outcome, complete_fenced, complete_naive
from ..instruments.explorer import Explorer, RunResult, Snapshot
from ..redis.target import RedisTarget
from ..tasks.reconcilers import (reconcile_epoch, reconcile_lua, reconcile_naive, reconcile_recheck,
                          reconcile_watch)
from ..tasks.store import DONE, FAIL, RUNNING, Store, TaskSpec

DOC = "d1"
T1, T2 = "d1-t1", "d1-t2"

StoreActor = Callable[[Store], Awaitable[Any]]


# --- starting states ------------------------------------------------------------------

async def _incident(store: Store) -> None:
    """d1 RUNNING; t1 DONE; t2 RUNNING under epoch 1 for worker w1, whose lease has lapsed."""
    await store.put_doc(DOC, RUNNING, {T1: TaskSpec(DONE, 1, "w0"), T2: TaskSpec(RUNNING, 1, "w1")})


async def _leased(store: Store) -> None:
    """As the incident, but w1's heartbeat is fresh: d1 is not orphaned."""
    await store.put_doc(DOC, RUNNING, {T1: TaskSpec(DONE, 1, "w0"), T2: TaskSpec(RUNNING, 1, "w1")}, lease="w1")


async def _stuck(store: Store) -> None:
    """d1 RUNNING with both tasks DONE: its worker died between its last task and the DONE write."""
    await store.put_doc(DOC, RUNNING, {T1: TaskSpec(DONE, 1, "w0"), T2: TaskSpec(DONE, 1, "w1")})


async def _takeover(store: Store) -> None:
    """t2 was requeued (epoch 2) and claimed by w2 (epoch 3); zombie w1 still holds epoch 1."""
    await store.put_doc(DOC, RUNNING, {T1: TaskSpec(DONE, 1, "w0"), T2: TaskSpec(RUNNING, 3, "w2")}, lease="w2")


async def _failed(store: Store) -> None:
    """d1 already FAIL (the reconciler gave up) while zombie w1 still holds t2 at epoch 1."""
    await store.put_doc(DOC, FAIL, {T1: TaskSpec(DONE, 1, "w0"), T2: TaskSpec(RUNNING, 1, "w1")})


async def _two_running(store: Store) -> None:
    """Two live workers each finishing one of d1's two tasks, both at epoch 1."""
    await store.put_doc(DOC, RUNNING, {T1: TaskSpec(RUNNING, 1, "w1"), T2: TaskSpec(RUNNING, 1, "w2")}, lease="w1")


SETUPS: dict[str, Callable[[Store], Awaitable[None]]] = {
    "incident": _incident, "leased": _leased, "stuck": _stuck,
    "takeover": _takeover, "failed": _failed, "two-running": _two_running,
}


# --- reading snapshots ------------------------------------------------------------------

def doc_state(state: Snapshot, doc: str = DOC) -> Optional[str]:
    return (state.get(f"doc:{doc}") or {}).get("state")


def queue_of(state: Snapshot) -> list[str]:
    return list(state.get("queue") or [])


def task_field(state: Snapshot, tid: str, name: str) -> Optional[str]:
    return (state.get(f"task:{tid}") or {}).get(name)


def pending_of(state: Snapshot, doc: str = DOC) -> frozenset[str]:
    return frozenset(state.get(f"doc:{doc}:pending") or ())


def _where(run: RunResult, index: int) -> str:
    """'at step 5 (reconciler: HSET ...)' for the step that produced states[index]."""
    if not run.steps or index == 0:
        return "by the end of the run"
    rec = run.steps[index - 1]
    return f"at step {rec.index} ({rec.actor}: {rec.label})"


# --- invariants --------------------------------------------------------------------------

def done_never_downgraded(run: RunResult) -> Optional[str]:
    """Rule 3: once DONE, the document stays DONE."""
    states = run.states
    for i in range(1, len(states)):
        if doc_state(states[i - 1]) == DONE and doc_state(states[i]) != DONE:
            return f"{DOC} went DONE -> {doc_state(states[i])} {_where(run, i)}"
    for outcome in run.actors.values():
        if outcome.result is Outcome.DOC_DONE and doc_state(run.final) != DONE:
            return (f"{outcome.name} marked {DOC} DONE, but it ended {doc_state(run.final)}: "
                    "something downgraded it afterwards")
    return None


def terminal_states_stay(run: RunResult) -> Optional[str]:
    """Neither DONE nor FAIL is ever left (there is no retry in these scenarios)."""
    states = run.states
    for i in range(1, len(states)):
        before, after = doc_state(states[i - 1]), doc_state(states[i])
        if before in (DONE, FAIL) and after != before:
            return f"{DOC} went {before} -> {after} {_where(run, i)}"
    return None


def no_task_queued_twice(run: RunResult) -> Optional[str]:
    """A task is never waiting in the queue twice (it would run twice)."""
    for i, state in enumerate(run.states):
        twice = sorted(t for t, n in Counter(queue_of(state)).items() if n > 1)
        if twice:
            return f"{', '.join(twice)} was requeued twice: it sits in the queue twice {_where(run, i)}"
    return None


def no_finished_task_requeued(run: RunResult, actors: Sequence[str] = ("reconciler", "replica")) -> Optional[str]:
    """A reconciler never puts a task that is already DONE back on the queue."""
    states = run.states
    for rec in run.steps:
        if not rec.actor.startswith(tuple(actors)):
            continue
        before, after = states[rec.index - 1], states[rec.index]
        added = Counter(queue_of(after)) - Counter(queue_of(before))
        for tid in added:
            if task_field(before, tid, "state") == DONE:
                return (f"{rec.actor} requeued {tid}, which had already finished, at step {rec.index} "
                        f"({rec.label})")
    return None


def no_task_lost(run: RunResult) -> Optional[str]:
    """If the document is still RUNNING at the end, every unfinished task is on the queue or leased."""
    final = run.final
    if doc_state(final) != RUNNING or f"doc:{DOC}:lease" in final:
        return None
    queued = set(queue_of(final))
    lost = sorted(t for t in pending_of(final) if t not in queued)
    if lost:
        return (f"{', '.join(lost)} is lost: {DOC} is still RUNNING, its worker is gone, "
                f"and the task is not on the queue (state {task_field(final, lost[0], 'state')})")
    return None


def progress_consistent(run: RunResult) -> Optional[str]:
    """The done counter matches the DONE tasks; a DONE document has no unfinished task."""
    final = run.final
    doc = final.get(f"doc:{DOC}") or {}
    tasks = [k for k in final if final.short(k).startswith("task:")]
    finished = sum(1 for k in tasks if final[k].get("state") == DONE)
    if doc and int(doc.get("done", 0)) != finished:
        return (f"{DOC} counts done={doc.get('done')} but {finished} tasks are DONE: "
                "a task was counted twice (or not at all)")
    if doc.get("state") == DONE and pending_of(final):
        return f"{DOC} is DONE while {sorted(pending_of(final))} are unfinished"
    return None


INCIDENT_INVARIANTS = (done_never_downgraded, no_finished_task_requeued, no_task_queued_twice, no_task_lost)


# --- scenarios ----------------------------------------------------------------------------

def scenario(
    target: RedisTarget,
    setup: str,
    actors: Mapping[str, StoreActor],
    invariants: Sequence[Callable[[RunResult], Any]] = INCIDENT_INVARIANTS,
    *,
    name: Optional[str] = None,
    **options: Any,
) -> Explorer:
    """An explorer whose actors are ``async fn(store)`` and whose start is one of :data:`SETUPS`."""
    if setup not in SETUPS:
        raise ValueError(f"unknown setup {setup!r}; choose from {', '.join(SETUPS)}")
    build = SETUPS[setup]

    async def do_setup(client: aredis.Redis) -> None:
        await build(Store(client, target))

    def bind(fn: StoreActor) -> Callable[[aredis.Redis], Awaitable[Any]]:
        async def actor(client: aredis.Redis) -> Any:
            return await fn(Store(client, target))
        return actor

    return Explorer(target, {n: bind(fn) for n, fn in actors.items()}, setup=do_setup,
                    invariants=list(invariants), name=name or setup, **options)


Worker = Callable[[Store, str, int], Awaitable[Any]]
Reconciler = Callable[[Store], Awaitable[Any]]

#: variant name -> (worker completion, reconciler, one-line description)
VARIANTS: dict[str, tuple[Worker, Reconciler, str]] = {
    "naive": (complete_naive, reconcile_naive, "the incident: look up, then write"),
    "recheck": (complete_naive, reconcile_recheck, "re-check right before each write"),
    "watch": (complete_naive, reconcile_watch, "WATCH/MULTI/EXEC with retry"),
    "lua": (complete_naive, reconcile_lua, "Lua compare-and-set"),
    "epoch": (complete_fenced, reconcile_epoch, "fenced worker + epoch-checked reconciler"),
}


def incident(target: RedisTarget, variant: str | tuple[Worker, Reconciler] = "naive",
             **options: Any) -> Explorer:
    """The headline scenario: worker ``w1`` finishes ``d1-t2`` while the reconciler runs."""
    if isinstance(variant, str):
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        worker, reconciler, _ = VARIANTS[variant]
        label = variant
    else:
        worker, reconciler = variant
        label = f"{getattr(worker, '__name__', 'worker')} + {getattr(reconciler, '__name__', 'reconciler')}"

    async def finish_t2(store: Store) -> Any:
        return await worker(store, T2, 1)

    return scenario(target, "incident", {"worker": finish_t2, "reconciler": reconciler},
                    name=f"incident[{label}]", **options)


async def contention_cost(target: RedisTarget, n_docs: int = 200, *, workers: int = 4, reconcilers: int = 2,
                          repeats: int = 1) -> dict[str, dict[str, Any]]:
    """What each variant costs under contention, and what it gets wrong.

    ``n_docs`` documents start in the incident's state; ``workers`` coroutines
    finish their last tasks while ``reconcilers`` sweep at the same time. Per
    variant: median wall time, time relative to naive, and how many documents
    ended FAIL - every document's last task does finish, so each FAIL is a wrong
    verdict (the incident's DONE->FAIL, at scale).
    """
    if not isinstance(n_docs, int) or not 1 <= n_docs <= 10_000:
        raise ValueError(f"n_docs must be an int from 1 to 10000, got {n_docs!r}")
    costs: dict[str, dict[str, Any]] = {}
    for variant, (worker, reconciler, description) in VARIANTS.items():
        times, wrong = [], []
        for r in range(repeats):
            scoped = target.child(f"cost-{variant}-{r}")
            client = scoped.async_client(max_connections=4 * (workers + reconcilers))
            store = Store(client, scoped)
            docs = [f"doc{i}" for i in range(n_docs)]
            try:
                for d in docs:
                    await store.put_doc(d, RUNNING, {f"{d}-t1": TaskSpec(DONE, 1, "w0"),
                                                     f"{d}-t2": TaskSpec(RUNNING, 1, "w1")})

                async def work(mine: list[str]) -> None:
                    for d in mine:
                        await worker(store, f"{d}-t2", 1)

                began = time.perf_counter()
                await asyncio.gather(*(work(docs[i::workers]) for i in range(workers)),
                                     *(reconciler(store) for _ in range(reconcilers)))
                times.append(time.perf_counter() - began)
                finals = [(await store.doc(d)).state for d in docs]
                wrong.append(finals.count(FAIL))
            finally:
                await client.aclose()
                await asyncio.to_thread(scoped.cleanup)
        costs[variant] = {"description": description, "seconds": round(statistics.median(times), 4),
                          "docs_ended_fail": int(statistics.median(wrong))}
    base = costs["naive"]["seconds"]
    for entry in costs.values():
        entry["relative_to_naive"] = round(entry["seconds"] / base, 2) if base else None
    return costs
