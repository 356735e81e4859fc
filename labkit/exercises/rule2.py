"""Notebook 02's exercises: keep a sync-only callee sync, and bridge each way correctly."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
from typing import Any

from .framework import NotYet, exercise, require_function

CHAT_S = 0.3


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
    for event in ("login", "save", "logout"):
        await asyncio.to_thread(sync_handler, log, event)
    if log != ["login", "save", "logout"]:
        raise NotYet(f"After three sync calls the audit log should be ['login', 'save', 'logout'], got {log!r}.")
    return "Called from sync handlers three times: all three events recorded, no coroutine in sight."


class _SlowModel:
    """A stand-in for a sync LLM client: ``chat`` blocks its thread for CHAT_S."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def chat(self, prompt: str) -> str:
        self.threads.append(threading.get_ident())
        time.sleep(CHAT_S)
        return f"summary of {prompt}"


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
        result, gap = await _max_gap_while(answer(model, "chapter 1"))
    except TypeError as exc:
        if "not callable" in str(exc):
            raise NotYet(
                "to_thread got the *result* of model.chat(...), which already ran on the loop: pass the function "
                "and its argument separately, `asyncio.to_thread(model.chat, text)`."
            ) from None
        raise
    if _close_if_coroutine(result):
        raise NotYet("summarise returned a coroutine: await the call inside it and return the text.")
    if result != "summary of chapter 1":
        raise NotYet(f"summarise(model, 'chapter 1') should return 'summary of chapter 1', got {result!r}.")
    if gap > CHAT_S / 2 or threading.get_ident() in model.threads:
        raise NotYet(
            f"The event loop was frozen for {gap:.2f} s while chat() ran on it. Offload the sync call: "
            "`await asyncio.to_thread(model.chat, text)`."
        )
    return f"chat() took {CHAT_S} s in a worker thread; the loop's longest pause was {gap * 1000:.0f} ms."


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
    lock = asyncio.Lock()  # belongs to this loop: using it from another loop fails

    async def add(a: int, b: int) -> int:
        ran_on.append(threading.get_ident())
        async with lock:
            await asyncio.sleep(0.05)
        return a + b

    def worker() -> Any:
        return answer(loop, add, 2, 3)

    try:
        result = await asyncio.to_thread(worker)
    except RuntimeError as exc:
        raise NotYet(
            f"Your code raised RuntimeError: {exc}. A worker thread cannot start or run this loop itself; hand the "
            "coroutine over with `asyncio.run_coroutine_threadsafe(coro_fn(*args), loop)` and wait on `.result()`."
        ) from None
    if _close_if_coroutine(result) or isinstance(result, (asyncio.Future, concurrent.futures.Future)):
        raise NotYet("call_on_loop returned an awaitable, not the result: wait for it with `.result(timeout=...)`.")
    if not ran_on:
        raise NotYet("The coroutine never ran: calling coro_fn(*args) only makes a coroutine; submit it to the loop.")
    if ran_on[0] != loop_thread:
        raise NotYet(
            "The coroutine ran on a new event loop in the worker thread (asyncio.run?), not on the loop you were "
            "given, so it cannot share that loop's clients and locks. Use `asyncio.run_coroutine_threadsafe`."
        )
    if result != 5:
        raise NotYet(f"call_on_loop(loop, add, 2, 3) should return 5, got {result!r}.")
    return "From a worker thread, add(2, 3) ran on the kernel-side loop and the thread got 5 back."
