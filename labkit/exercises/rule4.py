"""Checks for notebook 04 (rule 4: keep heartbeats off a blocked loop).

Both checks put the learner's code into two real worker processes
(:mod:`labkit.tasks.worker`), give ``w1`` one model call that is twice as long as the
heartbeat TTL, run the recovery loop, and read the execution log: a worker
declared dead while it was alive, or a task whose model call ran twice, is a
"not yet" with the reason.

* ``04.offload-handler`` - ``async def handle(system_msg, history, conf) -> str``,
  the worker's model call; its heartbeat is an asyncio task on the same loop.
* ``04.heartbeat-thread`` - ``start_heartbeat(beat, interval_s) -> stop``: call
  ``beat()`` every ``interval_s`` seconds somewhere the loop cannot block, and
  return a function that stops it. The model call stays blocking.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..model import llm
from ..model.endpoint import model_endpoint
from .framework import NotYet, exercise, reject_call_result
from ..errors import LabError
from ..lessons.heartbeat_demo import HeartbeatRun, run_heartbeat_demo
from .learner_code import LearnerModule
from ..tasks.store import task_id
from ..tasks.worker import SYSTEM_MSG, history_for

TTL_S = 0.5
TASKS = 3
SLOW_S = 1.0
LATENCY_S = 0.1


def _log_hint(run: HeartbeatRun) -> str:
    for worker, log in run.logs.items():
        lines = [line for line in log.splitlines() if line.strip()]
        if lines and ("Error" in log or "Traceback" in log):
            return f" Worker {worker} said: {lines[-1][:300]}"
    return ""


async def _trial(module: LearnerModule, flag: str, work_args: list[str]) -> HeartbeatRun:
    with module:
        try:
            return await run_heartbeat_demo(
                "same-loop", ttl_s=TTL_S, scan_s=0.05, tasks=TASKS, latency_s=LATENCY_S, slow_latency_s=SLOW_S,
                extra_args=[*work_args, flag, module.spec], python_path=[str(module.dir)],
                timeout_s=6.0, ready_timeout_s=6.0)
        except LabError as exc:
            last = [line for line in str(exc).splitlines() if line.strip()][-1:]
            raise NotYet(f"A worker running your code did not start: {last[0] if last else exc}") from None


def _common_verdict(run: HeartbeatRun, what: str, fix: str, code: str = "") -> None:
    if run.verdicts:
        v = run.verdicts[0]
        raise NotYet(
            f"{v.worker} was declared dead {v.since_last_beat_s:.2f} s after its last beat (TTL {TTL_S:g} s) while "
            f"it was alive inside a {SLOW_S:g} s model call; its task was requeued and the model ran "
            f"{max(run.executions.values(), default=1)} times for it ({run.duplicate_executions} duplicate). "
            f"{fix}", code=code)
    if run.duplicate_executions:
        raise NotYet(f"These tasks ran twice: {run.ran_twice}. {fix}", code=code)
    if run.doc_state != "DONE":
        raise NotYet(f"The document did not finish (it is {run.doc_state}): the workers running your {what} "
                     f"did not complete its tasks.{_log_hint(run)}")
    hung = [w for w, c in run.exit_codes.items() if c is None]
    if hung:
        stop = ("the function start_heartbeat returns must end the thread (set a threading.Event its loop waits "
                "on, then join it)." if what == "heartbeat" else
                f"a thread your {what} starts must end when its work is done (or be started with daemon=True).")
        raise NotYet(f"{', '.join(hung)} did not exit within 3 s of SIGTERM. A non-daemon thread that never stops "
                     f"keeps a process alive: {stop}")
    bad = {w: c for w, c in run.exit_codes.items() if c != 0}
    if bad:
        raise NotYet(f"After SIGTERM the workers exited with {bad}, not 0.{_log_hint(run)}")


def _replies() -> dict[str, str]:
    return {t: llm.reply_for(SYSTEM_MSG, history_for(t)) for t in (task_id("d1", i + 1) for i in range(TASKS))}


async def _served_by_server() -> dict[str, int]:
    """How often the lab's model server has sent each task's reply so far (it counts, per reply)."""
    endpoint = await asyncio.to_thread(model_endpoint)
    return {t: await asyncio.to_thread(endpoint.served, reply) for t, reply in _replies().items()}


def _check_replies(run: HeartbeatRun, server_before: dict[str, int], server_after: dict[str, int]) -> None:
    expected_replies = _replies()
    ran: dict[str, int] = {}
    for e in run.events:
        if e.kind != "ran":
            continue
        task = str(e.get("task"))
        expected = expected_replies.get(task, "")
        if e.get("reply") != expected[:200]:
            raise NotYet(f"handle returned {e.get('reply')!r:.80} for {task}, but the model's reply was "
                         f"{expected!r}: return the model's reply unchanged (what openai_chat or llm.chat returns).")
        ran[task] = ran.get(task, 0) + 1
        asked = int(e.get("asked_here", 0)) + server_after.get(task, 0) - server_before.get(task, 0)
        if asked < ran[task]:
            raise NotYet(f"handle returned the right reply for {task}, but the model was never asked for it: "
                         "the reply was made up (computed with llm.reply_for, or copied) instead of coming from "
                         "a model call. The exercise is to keep the heartbeat alive *while the model is called*: "
                         "call the model in a thread, or through an async client, and return its reply.",
                         code=HANDLE_CODE)
        took = e.t - float(e.get("began", e.t))
        if took < 0.8 * LATENCY_S:
            raise NotYet(f"handle returned after {took * 1000:.0f} ms, before the model could answer: await the "
                         "model call instead of starting it and moving on.")


HANDLE_CODE = ("`return await asyncio.to_thread(openai_chat, system_msg, history, conf)`, or "
               "`return await openai_achat(system_msg, history, conf)`.")
BEAT_THREAD_CODE = ("`stop = threading.Event()`; a `threading.Thread(target=..., daemon=True)` whose target runs "
                    "`while not stop.wait(interval_s): beat()`; return a function that calls `stop.set()` and "
                    "joins the thread.")


@exercise("04.offload-handler", title="Keep the heartbeat alive during a slow model call", time_limit=30)
async def check_offload_handler(handle: Any) -> str:
    """Real workers with an on-loop heartbeat call ``handle``: nobody may be declared dead."""
    reject_call_result(handle, "labkit.check(..., handle)")
    if callable(handle) and not isinstance(handle, str) and not inspect.iscoroutinefunction(handle):
        raise NotYet("handle must be an `async def`: the worker awaits it on its event loop, next to the heartbeat.")
    server_before = await _served_by_server()
    run = await _trial(LearnerModule(handle, "handle", "handle function"), "--handler", ["--work", "blocking"])
    _common_verdict(run, "handle", "The blocking model call (a sync client such as OpenAI, which openai_chat uses, "
                    "httpx.Client or requests, or llm.chat) held the worker's loop, so its heartbeat task could not "
                    "run. Hand the call to a thread and await it, or call an async client (openai_achat awaits AsyncOpenAI).",
                    HANDLE_CODE)
    _check_replies(run, server_before, await _served_by_server())
    return (f"A {SLOW_S:g} s call with a {TTL_S:g} s TTL: no worker was declared dead, every task ran once "
            f"({run.executions}), and the workers exited 0.")


@exercise("04.heartbeat-thread", title="Move the heartbeat to its own thread", time_limit=30)
async def check_heartbeat_thread(start_heartbeat: Any) -> str:
    """Real workers whose model call blocks the loop, beating with the learner's heartbeat."""
    reject_call_result(start_heartbeat, "labkit.check(..., start_heartbeat)")
    if callable(start_heartbeat) and inspect.iscoroutinefunction(start_heartbeat):
        raise NotYet("start_heartbeat should be a plain `def`: it starts the beating and returns at once. "
                     "An async def runs on the worker's loop, which the blocking call holds.")
    run = await _trial(LearnerModule(start_heartbeat, "start_heartbeat", "start_heartbeat function"),
                       "--start-heartbeat", ["--work", "blocking"])
    _common_verdict(run, "heartbeat", "The model call blocks the worker's event loop, so anything scheduled on "
                    "that loop (an asyncio task, call_later) waits for it. Beat from a thread of its own that waits "
                    "interval_s on a stop event between beats.", BEAT_THREAD_CODE)
    for worker in ("w1", "w2"):
        stopped = [e.t for e in run.events if e.worker == worker and e.kind in ("heartbeat-stopped", "exit")]
        beats = [e.t for e in run.events if e.worker == worker and e.kind == "beat"]
        late = [t for t in beats if stopped and t > stopped[0]]
        if late:
            raise NotYet(f"{worker} called the function start_heartbeat returned, and its heartbeat beat {len(late)} "
                         "more time(s) while the worker was still shutting down: that function must stop the "
                         "beating (set a threading.Event the thread waits on, then join the thread). A daemon "
                         "thread only dies with its process; nothing else stops it.")
        slow = [e for e in run.events if e.worker == worker and e.kind == "ran"
                and e.t - float(e.get("began", e.t)) > SLOW_S * 0.9]
        for call in slow:
            during = [t for t in beats if float(call.get("began", 0)) < t < call.t]
            if len(during) < 2:
                raise NotYet(f"Only {len(during)} beat(s) during {worker}'s {SLOW_S:g} s call at an interval of "
                             f"{TTL_S / 3:.2f} s: beat every interval_s seconds, not once.")
    return (f"Beats kept coming during a {SLOW_S:g} s blocking call: no worker was declared dead, every task ran "
            "once, and the heartbeat stopped when the workers exited.")
