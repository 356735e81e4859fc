"""Checks for notebook 05 (rule 5: graceful shutdown with an explicit stop event).

The learner's code never runs in the kernel: it is written to a module, a real
worker process (:mod:`labkit.tasks.worker`) runs it, and the check signals that
process mid-task (SIGTERM in one run, SIGINT in another), then reads the exit
code, the task states at exit and, after a second worker drains the queue,
whether any task was lost or ran twice.

* ``05.stop-handlers`` - ``install_stop_handlers(loop, stop)``: make SIGTERM and
  SIGINT set ``stop``; the worker's own graceful loop does the rest.
* ``05.graceful-worker`` - ``async def run_worker(worker)``: the whole main loop
  (install the handlers, claim until stopped, finish the in-flight task within
  ``worker.grace_s`` or release it).
"""

from __future__ import annotations

import asyncio
import inspect
import signal
from typing import Any

from .framework import NotYet, exercise, reject_call_result
from .learner_code import LearnerModule
from ..lessons.shutdown_demo import ShutdownRun, run_shutdown_demo
from ..tasks.store import DONE, QUEUED, RUNNING

EXIT_TIMEOUT_S = 6.0
# The checks judge shutdown, not heartbeats: a TTL a starved machine cannot lapse, so a live worker is never
# taken for dead and its task rerun (which would be blamed on the learner).
CHECK_TTL_S = 2.0


def _last_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.strip() and line.strip() != "ready"]
    return lines[-1][:300] if lines else "(no output)"


def _signal_verdict(run: ShutdownRun, sig: str, fix: str, fix_code: str, *, learner_loop: bool = False) -> None:
    """Turn how the process ended into a hint, if it did not end well.

    ``learner_loop``: the learner wrote the main loop too, so a task left behind after a clean exit is the
    loop's doing (dropped, or released without ``await``); otherwise only their handler could have left it.
    """
    code = run.exit_code
    if code is None:
        raise NotYet(f"After {sig} the worker was still running {EXIT_TIMEOUT_S:g} s later. The signal reached a "
                     "handler that never made the loop stop: an `async def` handed to signal.signal() returns a "
                     f"coroutine nobody awaits, and a handler must set the stop event. {fix}", code=fix_code)
    if code == -signal.Signals[sig].value:
        raise NotYet(f"{sig} killed the worker (exit code {code}): no handler was installed for {sig}, so its task "
                     f"was left RUNNING until recovery noticed. {fix}", code=fix_code)
    if "KeyboardInterrupt" in run.log:
        raise NotYet(f"{sig} raised KeyboardInterrupt inside the worker: there is no handler for SIGINT, so Python's "
                     f"default one interrupted the task. Handle SIGINT the same way as SIGTERM. {fix}", code=fix_code)
    if code != 0:
        raise NotYet(f"After {sig} the worker exited with code {code}, not 0. It said: {_last_line(run.log)}")
    exits = [e for e in run.events if e.kind == "exit" and e.worker == "w1"]
    cleaned_up = bool(exits)
    held = run.left_running or [t for e in run.events if e.kind == "dead" and e.worker == "w1"
                                for t in e.get("requeued", [])]
    if learner_loop and cleaned_up and (held or not exits[0].get("clean", True)):
        unawaited = "was never awaited" in run.log and "release" in run.log
        raise NotYet(f"After {sig} the worker shut down and exited 0, but still held {', '.join(held) or 'its task'} "
                     "RUNNING, with nobody working on it, until recovery noticed: "
                     + ("worker.release was called but never awaited, so it never ran: a coroutine only runs "
                        "when awaited." if unawaited else
                        "the task was dropped (cancelled or abandoned) without being handed back. Before returning, "
                        "release the claim of a task that will not finish in time, and wait for the release."),
                     code=RELEASE_CODE)
    if run.left_running or not cleaned_up:
        raise NotYet(f"After {sig} the process exited 0, but {run.left_running or 'its task'} was left RUNNING and "
                     "the worker's clean-up never ran: the handler ended the process (sys.exit / os._exit / raise) "
                     "in the middle of the task. Only set the stop event; let the loop finish and return.")


async def _trials(module: LearnerModule, flag: str, specs: list[tuple[str, dict[str, Any]]]) -> list[ShutdownRun]:
    with module:
        args = [flag, module.spec]
        return list(await asyncio.gather(*(
            run_shutdown_demo(name, spec={"args": [*args, *spec["args"]], "signals": spec["signals"]},
                              python_path=[str(module.dir)], drain=True, exit_timeout_s=EXIT_TIMEOUT_S,
                              ttl_s=CHECK_TTL_S)
            for name, spec in specs)))


def _after_drain(run: ShutdownRun) -> None:
    if run.doc_state_after_drain != DONE:
        raise NotYet(f"After the {run.scenario} run another worker could not finish the document (it stayed "
                     f"{run.doc_state_after_drain or 'RUNNING'}): a task was lost.")
    twice = [t for t, n in run.executions.items() if n > 1]
    if twice:
        raise NotYet(f"{twice} ran twice in the {run.scenario} run: the task was handed back after it had already "
                     "finished, or finished after it was handed back.")


def _stop_was_prompt(run: ShutdownRun, fix: str, fix_code: str) -> None:
    """The loop had nothing scheduled when the signal came: the stop must still wake it at once.

    Told apart by what happened to the task, not by a clock: a stop the loop heard at once runs out the
    short grace and releases the 3 s task; a stop it only noticed when the call ended finds the task DONE.
    """
    if run.states_at_exit.get("d1-t1") == DONE and not run.released:
        raise NotYet(
            f"SIGINT came 0.15 s into a {IDLE_CALL_S:g} s model call while the worker's loop had nothing "
            f"scheduled (the call ran in a thread, the heartbeat in another), with a {IDLE_GRACE_S:g} s grace; "
            f"the worker only stopped when the call ended, {run.shutdown_s:.2f} s later, so the grace never "
            "counted. The stop event was set, but the loop slept on: a handler installed with signal.signal() "
            "runs outside the loop, and `stop.set()` there queues the waiter's wake-up without waking the loop. "
            f"{fix} From a signal.signal() handler, have the loop set the event, through the method a loop "
            "offers other threads.",
            code=f"{fix_code}; from a signal.signal() handler, `loop.call_soon_threadsafe(stop.set)` wakes it too.")


def _signal_hit_a_task(run: ShutdownRun, sig: str, fix: str, fix_code: str) -> None:
    """The run only means something if a task was in flight when the signal landed."""
    claims = [e.t for e in run.events if e.kind == "claim" and e.worker == "w1"]
    if not claims or claims[0] > run.signals[0][0]:
        raise NotYet(
            f"The worker never claimed a task before {sig} arrived: the stop event was already set when your "
            "handlers were installed. `stop.set()` with parentheses calls it right away (and hands its result, "
            f"None, to the loop as the handler); pass the method itself, uncalled. {fix}", code=fix_code)


RELEASE_CODE = "`await worker.release(claim)`"
IDLE_GRACE_S = 0.5
IDLE_CALL_S = 3.0


@exercise("05.stop-handlers", title="SIGTERM and SIGINT set a stop event", time_limit=40)
async def check_stop_handlers(install_stop_handlers: Any) -> str:
    """A real worker installs the learner's handlers; SIGTERM and SIGINT must each stop it cleanly, and at
    once even when its loop has nothing scheduled (a model call in a thread, the heartbeat in another)."""
    reject_call_result(install_stop_handlers, "labkit.check(..., install_stop_handlers)")
    if callable(install_stop_handlers) and inspect.iscoroutinefunction(install_stop_handlers):
        raise NotYet("install_stop_handlers should be a plain `def`: it only registers handlers and returns.")
    base = ["--on-signal", "none", "--mode", "offload", "--latency", "0.6", "--grace", "2"]
    idle = ["--on-signal", "none", "--work", "offload", "--heartbeat", "thread", "--latency", str(IDLE_CALL_S),
            "--grace", str(IDLE_GRACE_S)]
    runs = await _trials(LearnerModule(install_stop_handlers, "install_stop_handlers", "install_stop_handlers"),
                         "--install", [("sigterm", {"args": base, "signals": [(0.15, "SIGTERM")]}),
                                       ("sigint-idle-loop", {"args": idle, "signals": [(0.15, "SIGINT")]})])
    fix = ("Register the stop event's set method, uncalled, as the handler of both SIGTERM and SIGINT through "
           "the loop itself, so the loop runs it and wakes.")
    code = "`for sig in (signal.SIGTERM, signal.SIGINT): loop.add_signal_handler(sig, stop.set)`"
    for run, sig in zip(runs, ("SIGTERM", "SIGINT")):
        _signal_verdict(run, sig, fix, code)
        _signal_hit_a_task(run, sig, fix, code)
    _stop_was_prompt(runs[1], fix, code)
    for run in runs:
        _after_drain(run)
    term, sigint = runs
    return (f"SIGTERM: exit 0 after {term.shutdown_s:.2f} s, in-flight task {term.states_at_exit['d1-t1']}; SIGINT "
            f"while the loop had nothing scheduled: heard at once, the {IDLE_CALL_S:g} s task released after the "
            f"{IDLE_GRACE_S:g} s grace, exit 0 after {sigint.shutdown_s:.2f} s; nothing lost, nothing ran twice.")


UNSIGNALLED_CALL_S = 1.2


def _no_grace_without_a_signal(run: ShutdownRun, grace: float) -> None:
    """The grace only starts with a stop: with no signal, a slow task must be allowed to finish."""
    first_signal = run.signals[0][0]
    early = [str(e.get("task")) for e in run.events if e.kind == "release" and e.t < first_signal]
    finished = any(e.kind == "ran" and e.worker == "w1" and e.get("task") == "d1-t1" and e.t < first_signal
                   for e in run.events)
    if early or not finished:
        what = f"released {early[0]}" if early else "gave up on d1-t1"
        raise NotYet(f"With no signal at all, d1-t1's model call took {UNSIGNALLED_CALL_S:g} s, and your worker "
                     f"{what} after worker.grace_s ({grace:g} s): the grace is how long a task may run on *after a "
                     "stop*, not a time limit on every task. Wait for the job or the stop event, whichever comes "
                     "first; only once the stop is set, give the job at most worker.grace_s.")


@exercise("05.graceful-worker", title="A worker that shuts down without losing work", time_limit=45)
async def check_graceful_worker(run_worker: Any) -> str:
    """The learner's main loop, signalled during a short task and during one that will not finish in time."""
    reject_call_result(run_worker, "labkit.check(..., run_worker)")
    if callable(run_worker) and not inspect.iscoroutinefunction(run_worker):
        raise NotYet("run_worker must be an `async def`: the worker process awaits it on its event loop.")
    grace = 0.5
    runs = await _trials(LearnerModule(run_worker, "run_worker", "run_worker"), "--main", [
        ("finishes", {"args": ["--on-signal", "none", "--mode", "offload", "--latency", "0.6", "--grace", "2"],
                      "signals": [(0.15, "SIGTERM")]}),
        ("too-slow", {"args": ["--on-signal", "none", "--mode", "offload", "--latency", "3", "--grace", str(grace)],
                      "signals": [(0.15, "SIGINT")]}),
        ("no-signal", {"args": ["--on-signal", "none", "--mode", "offload", "--latency", "0.05", "--slow-calls", "1",
                                "--slow-latency", str(UNSIGNALLED_CALL_S), "--grace", str(grace)],
                       "signals": [(UNSIGNALLED_CALL_S + 0.6, "SIGTERM")]}),
    ])
    short, slow, unsignalled = runs
    fix = ("Install handlers first, through the loop, that set worker.stop on SIGTERM and SIGINT; then take "
           "work only while that event is not set.")
    code = ("`loop = asyncio.get_running_loop()`; `for sig in (signal.SIGTERM, signal.SIGINT): "
            "loop.add_signal_handler(sig, worker.stop.set)`; then `while not worker.stop.is_set():`")
    touched = any(e.kind in ("claim", "ran") and e.worker == "w1" for e in short.events) or set(short.states_at_exit.values()) != {QUEUED}
    if not touched:
        raise NotYet(f"Your worker never claimed a task: in its loop, ask the worker for a claim and execute it "
                     f"(both are async methods of worker). It said: {_last_line(short.log)}",
                     code="`claim = await worker.claim()`, then `await worker.execute(claim)`")
    if slow.exit_code is None:
        raise NotYet(f"SIGINT came during a 3 s task and the worker was still running {EXIT_TIMEOUT_S:g} s later. "
                     f"Wait for the in-flight task at most worker.grace_s ({grace:g} s), then "
                     "hand the claim back (release it, awaited) and return.", code=RELEASE_CODE)
    _signal_verdict(short, "SIGTERM", fix, code, learner_loop=True)
    _signal_verdict(slow, "SIGINT", fix, code, learner_loop=True)
    if short.states_at_exit.get("d1-t1") != DONE:
        raise NotYet(f"SIGTERM came 0.15 s into a 0.6 s task, with {2:g} s of grace, but the task was "
                     f"{short.states_at_exit.get('d1-t1')} when the worker exited: let a task that can finish in "
                     "time finish (await it) before returning.")
    if short.states_at_exit.get("d1-t2") != QUEUED:
        raise NotYet("After SIGTERM your worker still claimed the next task (d1-t2): once the stop event is set, "
                     "stop taking work.")
    if slow.states_at_exit.get("d1-t1") == DONE and not slow.released:
        raise NotYet(f"SIGINT came 0.15 s into a 3 s task and the worker took {slow.shutdown_s:.2f} s to exit, "
                     f"having waited for the whole call, far beyond worker.grace_s ({grace:g} s). "
                     "Wait at most worker.grace_s, then release the claim to hand it back.", code=RELEASE_CODE)
    if slow.states_at_exit.get("d1-t1") == RUNNING:
        raise NotYet("The slow task was left RUNNING when the worker exited: release its claim (and await the "
                     "release) so another worker can take it at once.", code=RELEASE_CODE)
    _no_grace_without_a_signal(unsignalled, grace)
    for run in runs:
        _after_drain(run)
    return (f"SIGTERM mid-task: the task finished, nothing new was claimed, exit 0 after {short.shutdown_s:.2f} s. "
            f"SIGINT during a task too slow for the {grace:g} s grace: released, exit 0 after "
            f"{slow.shutdown_s:.2f} s. Another worker then finished the document; no task ran twice.")
