"""Notebook 02's exercises: keep a sync-only callee sync, and bridge each way correctly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import inspect
import threading
import time
import uuid
from typing import Any

from .framework import NotYet, exercise, require_function
from ..instruments.loop_monitor import LoopMonitor

CHAT_S = 0.3
OWN_STALL_S = 0.05
OFFLOAD_CODE = "`return await asyncio.to_thread(model.chat, text)`"


def _close_if_coroutine(value: Any) -> bool:
    if inspect.iscoroutine(value):
        value.close()
        return True
    return False


@exercise("02.keep-it-sync", title="Keep a sync-only callee sync", time_limit=10)
async def keep_it_sync_check(answer: Any) -> str:
    """``record_audit(log, event)`` is called only by sync handlers; it must stay a plain callable."""
    require_function(
        answer, "check('02.keep-it-sync', record_audit)", is_async=False,
        why="record_audit is an `async def`, but every caller is a sync handler: each call would only make a "
        "coroutine (truthy, never run). Keep it a plain `def`.",
    )

    def sync_handler(log: list[str], event: str) -> str:  # how the lab's callers use it
        returned = answer(log, event)
        if _close_if_coroutine(returned):
            raise NotYet("record_audit returned a coroutine: a sync caller cannot await it, so nothing is recorded.")
        return "handled"

    log: list[str] = []
    events = ("login", "save", "logout")
    for n, event in enumerate(events, 1):
        await asyncio.to_thread(sync_handler, log, event)
        if log != list(events[:n]):
            raise NotYet(f"After the sync call record_audit(log, {event!r}) the audit log should be "
                         f"{list(events[:n])!r}, got {log!r}: append the event it is given, once per call.")
    if log != list(events):
        raise NotYet(f"After three sync calls the audit log should be ['login', 'save', 'logout'], got {log!r}.")
    return "Called from sync handlers three times: all three events recorded, no coroutine in sight."


class _SlowModel:
    """A stand-in for a sync LLM client: ``chat`` blocks its thread for CHAT_S.

    Its replies carry a tag fresh for each check, so a summary can only come from calling it.
    """

    def __init__(self) -> None:
        self.threads: list[int] = []
        self.tag = uuid.uuid4().hex[:4]

    def reply(self, prompt: str) -> str:
        return f"summary of {prompt} ({self.tag})"

    def chat(self, prompt: str) -> str:
        self.threads.append(threading.get_ident())
        time.sleep(CHAT_S)
        return self.reply(prompt)


async def _max_gap_while(coro: Any, tick: float = 0.01) -> tuple[Any, float]:
    """Run ``coro`` while a ticker measures the longest time the loop was unavailable."""
    gaps: list[float] = []
    running = True

    async def ticker() -> None:
        last = time.perf_counter()
        while running:
            await asyncio.sleep(tick)
            now = time.perf_counter()
            gaps.append(now - last - tick)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    try:
        result = await coro
    finally:
        running = False
        await task
    return result, max(gaps, default=0.0)


@exercise("02.offload-sync", title="Call a sync API from async code without blocking", time_limit=10)
async def offload_sync_check(answer: Any) -> str:
    """``async def summarise(model, text)`` must return ``model.chat(text)`` without stalling the loop."""
    require_function(
        answer, "check('02.offload-sync', summarise)", is_async=True,
        why="summarise is awaited by async callers, so it should be an `async def` (its callers support it).",
    )
    model = _SlowModel()
    try:
        async with LoopMonitor() as monitor:
            result, gap = await _max_gap_while(answer(model, "chapter 1"))
    except TypeError as exc:
        if "not callable" in str(exc):
            raise NotYet(
                "to_thread got the *result* of model.chat(...), which already ran on the loop: pass the function "
                "and its argument separately, so the thread makes the call.",
                code=OFFLOAD_CODE,
            ) from None
        raise
    if _close_if_coroutine(result):
        raise NotYet("summarise returned a coroutine: await the call inside it and return the text.")
    if not model.threads:
        raise NotYet(f"summarise never called model.chat, yet returned {result!r}: a summary written out or made "
                     "up skips the model. Call it, off the loop, and return its reply.", code=OFFLOAD_CODE)
    if result != model.reply("chapter 1"):
        raise NotYet(f"summarise(model, 'chapter 1') should return what model.chat('chapter 1') returned, "
                     f"{model.reply('chapter 1')!r}, got {result!r}.")
    if threading.get_ident() in model.threads:  # where chat() ran, not how long a pause was: load stretches pauses
        raise NotYet(
            f"The event loop was frozen for {gap:.2f} s while chat() ran on it. Hand the sync call to a worker "
            "thread and await it there, so the loop keeps running meanwhile.",
            code=OFFLOAD_CODE,
        )
    code = getattr(answer, "__code__", None)
    # A sync wait written in summarise holds the loop for its whole length (tens of ms at least); a busy
    # machine only stretches summarise's own short passes (starting the thread) by a few milliseconds.
    own = [s for s in monitor.result().stalls if s.duration_s >= OWN_STALL_S and code is not None and any(
        f.filename == code.co_filename and code.co_firstlineno <= f.lineno for f in s.stack)]
    if own:
        raise NotYet(f"The event loop stalled {own[0].duration_s * 1000:.0f} ms inside summarise itself, at "
                     f"{own[0].where}: any sync wait in an `async def` holds the loop, however short. Wait the "
                     "async way, or move the wait into the thread with the call.",
                     code=f"`await asyncio.sleep(...)` instead of `time.sleep(...)`; {OFFLOAD_CODE}")
    return f"chat() took {CHAT_S} s in a worker thread; the loop's longest pause was {gap * 1000:.0f} ms."


SETTLE_S = 0.1
THREADSAFE_CODE = "`return asyncio.run_coroutine_threadsafe(coro_fn(*args), loop).result(timeout=10)`"
NUDGE_S = 1.0


@exercise("02.from-a-thread", title="Run a coroutine on the loop from another thread", time_limit=10)
async def from_a_thread_check(answer: Any) -> str:
    """``call_on_loop(loop, coro_fn, *args)``: from a worker thread, run ``coro_fn(*args)`` on ``loop``."""
    require_function(
        answer, "check('02.from-a-thread', call_on_loop)", is_async=False,
        why="call_on_loop is called from a plain worker thread, which cannot await: make it a plain `def`.",
    )
    loop = asyncio.get_running_loop()
    loop_thread = threading.get_ident()
    ran_on: list[int] = []
    started: list[float] = []
    handed_over: list[float] = []
    lock = asyncio.Lock()  # belongs to this loop: using it from another loop fails

    async def add_on_loop(a: int, b: int) -> int:
        started.append(time.monotonic())
        ran_on.append(threading.get_ident())
        async with lock:
            await asyncio.sleep(0.05)
        return a + b

    made: list[Any] = []  # the coroutines the answer made, so one it could not hand over can be closed

    @functools.wraps(add_on_loop)
    def add(a: int, b: int) -> Any:
        made.append(add_on_loop(a, b))
        return made[-1]

    done: asyncio.Future[Any] = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if not done.done():
            done.set_exception(error) if error is not None else done.set_result(value)

    def worker() -> None:
        time.sleep(SETTLE_S)  # by now the loop is asleep, waiting for something to wake it
        handed_over.append(time.monotonic())
        try:
            value, error = answer(loop, add, 2, 3), None
        except BaseException as exc:  # noqa: BLE001 - handed to the check's loop
            value, error = None, exc
        loop.call_soon_threadsafe(settle, value, error)

    # A plain daemon thread (not to_thread): learner code stuck in it cannot hold up the check's exit.
    threading.Thread(target=worker, name="labkit-from-a-thread", daemon=True).start()
    nudge = loop.call_later(NUDGE_S, lambda: None)  # the only other thing that would wake the loop
    try:
        result = await asyncio.wait_for(done, timeout=NUDGE_S + 4)
    except RuntimeError as exc:
        for coro in made:  # never handed to a loop (run_until_complete refuses a running loop before it wraps one)
            if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
                coro.close()  # else Python warns "never awaited" about the check's coroutine, not the learner's
        raise NotYet(
            f"Your code raised RuntimeError: {exc}. A worker thread cannot start or run this loop itself; hand the "
            "coroutine over to the loop's own thread (asyncio.run_coroutine_threadsafe) and wait for its result.",
            code=THREADSAFE_CODE,
        ) from None
    except asyncio.TimeoutError:
        raise NotYet("call_on_loop never returned: the coroutine was handed over but the thread never got its "
                     "result. Block the thread on the future you got back until it holds the result.",
                     code=THREADSAFE_CODE) from None
    finally:
        nudge.cancel()
    if started and handed_over and started[0] - handed_over[0] > NUDGE_S / 2:
        raise NotYet(
            f"The coroutine only started {started[0] - handed_over[0]:.2f} s after your thread handed it over, "
            "when something else happened to wake the loop: loop.create_task / asyncio.ensure_future / "
            "loop.call_soon are not thread-safe, they queue the work without waking a loop that sleeps. "
            "asyncio.run_coroutine_threadsafe is the one that queues it and wakes the loop.",
            code=THREADSAFE_CODE,
        )
    if _close_if_coroutine(result) or isinstance(result, (asyncio.Future, concurrent.futures.Future)):
        raise NotYet("call_on_loop returned an awaitable, not the result: the thread cannot await, so block it "
                     "on the future until the result is there, and return that.", code=THREADSAFE_CODE)
    if not ran_on:
        raise NotYet("The coroutine never ran: calling coro_fn(*args) only makes a coroutine; submit it to the loop.")
    if ran_on[0] != loop_thread:
        raise NotYet(
            "The coroutine ran on a new event loop in the worker thread (asyncio.run?), not on the loop you were "
            "given, so it cannot share that loop's clients and locks. Hand the coroutine to the loop you were given "
            "(asyncio.run_coroutine_threadsafe).",
            code=THREADSAFE_CODE,
        )
    if result != 5:
        raise NotYet(f"call_on_loop(loop, add, 2, 3) should return 5, got {result!r}.")
    return "From a worker thread, add(2, 3) ran on the kernel-side loop and the thread got 5 back."
