"""Checks for notebook 06, the capstone: fix the broken task executor piece by piece.

Every check first reviews the learner's piece *inside* the service
(:func:`labkit.lessons.capstone_service.review_piece`, so its callers count), which names the
rule still broken at once; then it runs the piece for real with the mechanism
of that rule's notebook, because code can fool a static review:

* ``06.find`` - which function breaks which rule (compared with the reviewer).
* ``06.handle`` - R1: concurrent model calls under the loop monitor (01's check).
* ``06.audit`` - R2: sync callers record every event (02's check).
* ``06.reconcile`` - R3: every schedule of the incident in the explorer (03's check).
* ``06.heartbeat`` - R4: beats keep coming while the worker's loop is blocked, the
  heartbeat itself never stalls that loop, and it stops when told.
* ``06.shutdown`` - R5: real worker processes, SIGTERM and SIGINT mid-task (05's check).
* ``06.clean`` - the whole service with the fixed pieces passes the review, and each piece,
  as handed in, has passed its own check above (the review reads code; it cannot see a
  piece that skips its work).
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import time
from typing import Any, Callable, Mapping

from ..lessons.capstone_service import (BROKEN_EXECUTOR, PIECES, findings_by_function, review_assembled, review_broken,
                                        review_piece, source_of)
from .framework import NotYet, exercise, require_function
from ..errors import LabError
from ..instruments.loop_monitor import LoopMonitor
from ..review import Review
from .rule1 import check_offload_chat
from .rule2 import keep_it_sync_check
from .rule3 import safe_reconciler
from .rule4 import BEAT_THREAD_CODE
from .rule5 import check_graceful_worker

RULE_IDS = ("R1", "R2", "R3", "R4", "R5")

# piece -> the source of the last answer that passed that piece's own check (in this kernel)
_passed: dict[str, str] = {}


def _source(name: str, answer: Any) -> str:
    try:
        return source_of(answer, name).strip()
    except LabError:
        return ""


async def _remember(name: str, answer: Any, verdict: Any) -> str:
    """Await a piece's check; when it passes, note which code passed, for ``06.clean``."""
    message = await verdict
    _passed[name] = _source(name, answer)
    return message


#: What each rule asks, said as what to do: the first hint; the reviewer's fix is the code on a second ask.
RULE_IDEAS = {
    "R1": "Keep the loop free: run the blocking call in a thread (a process for CPU work), or use an async client.",
    "R2": "Keep the function on the side of the boundary its callers are on: a sync caller cannot await.",
    "R3": "Make the check and the write one atomic step, so nothing can change the state between them.",
    "R4": "Keep the heartbeat where a blocked event loop cannot stop it.",
    "R5": "Let SIGTERM and SIGINT only set a stop event; the loop sees it, finishes or hands back its work, and returns.",
}


def _gate(name: str, answer: Any, rules: tuple[str, ...]) -> None:
    """The reviewer's verdict on the piece, as a hint naming the first finding."""
    try:
        review = review_piece(name, answer)
    except LabError as exc:
        raise NotYet(str(exc)) from None
    # the rules this piece's check is about come first, in the order given: the R4 check opens with R4
    found = sorted((f for f in review if f.rule in rules), key=lambda f: rules.index(f.rule)) or list(review)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise NotYet(f"The reviewer still finds {first.rule} in your {name}{more}: {first.message}. "
                     f"{RULE_IDEAS.get(first.rule, '')}", code=first.fix)


def _enclosing_functions(source: str = BROKEN_EXECUTOR) -> dict[str, str]:
    """Every function of the service, nested ones included -> the top-level function it belongs to."""
    out: dict[str, str] = {}
    for top in ast.parse(source).body:
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(top):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out.setdefault(node.name, top.name)
    return out


def _names(value: Any) -> set[str]:
    """The top-level functions named: ``beating`` (nested, as the review names it) or a qualified
    ``start_heartbeat.<locals>.beating`` count as the function they live in."""
    try:
        raw = [value] if isinstance(value, str) else [str(v) for v in value]
    except TypeError:
        raise NotYet(f"Give each rule a function name or a list of names, got {value!r}.") from None
    enclosing = _enclosing_functions()
    names = set()
    for name in raw:
        name = name.strip().strip("`'\"").removesuffix("()").split(".")[-1]
        names.add(enclosing.get(name, name))
    return names


@exercise("06.find", title="Find which function breaks which rule", time_limit=10)
async def check_find(answer: Any) -> str:
    """``{"R1": [...], ..., "R5": [...]}``: the functions of the service where each rule is broken."""
    if not isinstance(answer, Mapping):
        raise NotYet("Answer with a dict from rule to function names, e.g. {'R1': ['handle'], 'R2': [...], ...}.")
    expected = findings_by_function(review_broken())
    unknown = [k for k in answer if k not in RULE_IDS]
    if unknown:
        raise NotYet(f"{unknown} are not rules; use the keys {', '.join(RULE_IDS)}.")
    for rule in RULE_IDS:
        if rule not in answer:
            raise NotYet(f"You have not said where {rule} is broken. Every rule is broken somewhere in the service.")
        given, wanted = _names(answer[rule]), expected[rule]
        wrong = sorted(given - wanted)
        if wrong:
            raise NotYet(f"{rule} is not broken in {', '.join(wrong)}. Reread {rule} in the standard and the "
                         f"function's body; the review above shows where it is.")
        missing = wanted - given
        if missing:
            raise NotYet(f"{rule} is broken in {len(wanted)} function(s); you named {len(given)}. Look again: "
                         "one function can break several rules.")
    return "Right: " + "; ".join(f"{r} in {', '.join(sorted(expected[r]))}" for r in RULE_IDS) + "."


@exercise("06.handle", title="R1: the model call must not hold the loop", time_limit=15)
async def check_handle(handle: Any) -> str:
    require_function(handle, "check('06.handle', handle)", is_async=True,
                     why="handle is awaited by the worker, so keep it an `async def`; offload the sync call inside.")
    _gate("handle", handle, ("R1",))
    return await _remember("handle", handle, check_offload_chat(handle))


@exercise("06.audit", title="R2: keep the sync-only callee sync", time_limit=10)
async def check_audit(record_audit: Any) -> str:
    require_function(record_audit, "check('06.audit', record_audit)", is_async=None)
    _gate("record_audit", record_audit, ("R2",))
    return await _remember("record_audit", record_audit, keep_it_sync_check(record_audit))


@exercise("06.reconcile", title="R3: a reconciler that cannot turn DONE into FAIL", time_limit=60)
async def check_reconcile(reconcile: Any) -> str:
    require_function(reconcile, "check('06.reconcile', reconcile)", is_async=True,
                     why="reconcile talks to Redis through the async client, so it must be an `async def`.")
    _gate("reconcile", reconcile, ("R3",))
    return await _remember("reconcile", reconcile, safe_reconciler(reconcile))


# --- 06.heartbeat -------------------------------------------------------------------------

BEAT_S = 0.05
BLOCK_S = 0.6
IDLE_S = 0.3


class _Beats:
    """The ``beat`` the check hands over: notes when it was called; after the check, it
    raises, so a heartbeat that ignores its stop function ends instead of running on."""

    def __init__(self, lifetime_s: float = 4.0) -> None:
        self.times: list[float] = []
        self.closed = False
        self.deadline = time.monotonic() + lifetime_s

    def __call__(self) -> None:
        if self.closed or time.monotonic() > self.deadline:
            raise RuntimeError("the check is over: this heartbeat should have stopped")
        self.times.append(time.monotonic())

    def between(self, start: float, end: float) -> int:
        return sum(1 for t in self.times if start <= t <= end)


async def _drive(start_heartbeat: Callable[..., Any], beats: _Beats) -> dict[str, Any]:
    """Act as the worker's loop: start the heartbeat, block like a sync model call, idle, stop."""
    stopper = start_heartbeat(beats, BEAT_S)
    if inspect.iscoroutine(stopper):
        stopper.close()
        raise NotYet("start_heartbeat returned a coroutine: make it a plain `def` that starts the beating and "
                      "returns a function that stops it.")
    if not callable(stopper):
        raise NotYet(f"start_heartbeat must return a function that stops the heartbeat, got {stopper!r}.")
    await asyncio.sleep(0.1)
    blocked_from = time.monotonic()
    time.sleep(BLOCK_S)  # labkit: ignore[R1] - the blocking model call the heartbeat must survive
    blocked_to = time.monotonic()
    async with LoopMonitor() as monitor:
        await asyncio.sleep(IDLE_S)
    stopped = stopper()
    if inspect.isawaitable(stopped):
        await stopped
    stopped_at = time.monotonic()
    await asyncio.sleep(0.25)
    return {"blocked": (blocked_from, blocked_to), "idle": monitor.result(), "stopped_at": stopped_at}


def _in_thread(start_heartbeat: Callable[..., Any], beats: _Beats) -> dict[str, Any]:
    """Run the worker side on a loop of its own, so a heartbeat that hogs it cannot hang the check."""
    return asyncio.run(asyncio.wait_for(_drive(start_heartbeat, beats), timeout=6.0))


@exercise("06.heartbeat", title="R4: a heartbeat the worker's blocked loop cannot stop", time_limit=20)
async def check_heartbeat(start_heartbeat: Any) -> str:
    require_function(start_heartbeat, "check('06.heartbeat', start_heartbeat)", is_async=False,
                     why="start_heartbeat is called from the worker's sync setup and returns at once: make it a "
                         "plain `def` (the beating itself runs in a thread).")
    _gate("start_heartbeat", start_heartbeat, ("R4", "R1", "R5"))
    beats = _Beats()
    try:
        got = await asyncio.to_thread(_in_thread, start_heartbeat, beats)
    except asyncio.TimeoutError:
        raise NotYet("The worker's loop never got control back: the heartbeat holds it (a loop with no await, "
                     "or a sync sleep on the loop). Beat from a threading.Thread.") from None
    finally:
        beats.closed = True
    start, end = got["blocked"]
    during = beats.between(start + 2 * BEAT_S, end)
    expected = int((BLOCK_S - 2 * BEAT_S) / BEAT_S)
    if during < expected // 2:
        raise NotYet(f"While the worker's loop was blocked for {BLOCK_S:g} s (a sync model call), your heartbeat "
                     f"beat {during} time(s) at a {BEAT_S:g} s interval (about {expected} expected): it runs on "
                     "that loop. Beat from a thread of its own that waits interval_s on a stop event between beats.",
                     code=BEAT_THREAD_CODE)
    idle = got["idle"]
    if idle.stall_count and idle.stalled_s >= 0.5 * IDLE_S:  # held for half the time, not a busy machine's pause
        raise NotYet(f"Your heartbeat stalled the worker's loop {idle.stall_count} time(s) "
                     f"({idle.stalled_s * 1000:.0f} ms) while it was idle: the beating runs on the loop and blocks it.")
    after = beats.between(got["stopped_at"] + BEAT_S, got["stopped_at"] + 1.0)
    if after:
        raise NotYet(f"The heartbeat beat {after} more time(s) after its stop function was called: set a "
                     "threading.Event the thread waits on, and join the thread.")
    _passed["start_heartbeat"] = _source("start_heartbeat", start_heartbeat)
    return (f"{during} beats while the worker's loop was blocked for {BLOCK_S:g} s, no stall while idle "
            f"(lag p99 {idle.p99_ms:.1f} ms), and silence after stop.")


@exercise("06.shutdown", title="R5: a worker that SIGTERM stops cleanly", time_limit=45)
async def check_shutdown(run_worker: Any) -> str:
    require_function(run_worker, "check('06.shutdown', run_worker)", is_async=True,
                     why="run_worker must be an `async def`: the worker process awaits it on its event loop.")
    _gate("run_worker", run_worker, ("R5",))
    return await _remember("run_worker", run_worker, check_graceful_worker(run_worker))


@exercise("06.clean", title="The whole service passes the review", time_limit=10)
async def check_clean(pieces: Any) -> str:
    """``{"handle": handle, ...}``: every piece fixed, the assembled service has no finding."""
    if not isinstance(pieces, Mapping):
        raise NotYet(f"Pass a dict of your fixed pieces, e.g. {{'handle': handle, ...}}; the pieces are "
                     f"{', '.join(PIECES)}.")
    missing = [name for name in PIECES if name not in pieces]
    if missing:
        raise NotYet(f"Missing pieces: {', '.join(missing)}. Pass all of {', '.join(PIECES)}.")
    try:
        review: Review = review_assembled(pieces)
    except LabError as exc:
        raise NotYet(str(exc)) from None
    if review:
        first = review[0]
        raise NotYet(f"The assembled service still has {len(review)} finding(s); first, {first.rule} at line "
                     f"{first.line}: {first.message}.")
    silenced = "; ".join(f"{f.rule} at line {f.line} ({f.message})" for f in review.suppressed)
    unchecked = [name for name in PIECES if not _passed.get(name) or _passed[name] != _source(name, pieces[name])]
    if unchecked:
        raise NotYet("No findings, but the review only reads code: a piece that skips its work (a made-up reply, a "
                     "reconciler that reconciles nothing, a worker that never takes a task, a silenced call) reads "
                     "clean. Pass each piece's own check with the code you hand in here first; not yet: "
                     + ", ".join(f"{name} ({PIECES[name].exercise})" for name in unchecked) + "."
                     + (f" Silenced rather than fixed: {silenced}." if silenced else ""))
    if review.suppressed:
        return (f"No findings left, but {len(review.suppressed)} silenced with `# labkit: ignore[...]` rather than "
                f"fixed: {silenced}. Keep a silenced finding only where you can say why it is safe.")
    return "The service with your pieces passes all five rules: no findings."


__all__ = ["check_audit", "check_clean", "check_find", "check_handle", "check_heartbeat", "check_reconcile",
           "check_shutdown"]
