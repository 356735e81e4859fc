"""Notebook 00's warm-up: run several awaitable calls at once, results in order."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from typing import Any

from .framework import NotYet, exercise, require_function

CALL_S = 0.3
NAMES = ["ada", "grace", "barbara", "edsger"]


class _Fetcher:
    """A slow async lookup that records how many calls overlapped."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:4]  # each check's results differ: only real calls can produce them
        self.running = 0
        self.peak = 0
        self.calls: list[str] = []

    async def __call__(self, name: str) -> str:
        self.calls.append(name)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            await asyncio.sleep(CALL_S)
        finally:
            self.running -= 1
        return self.answer(name)

    def answer(self, name: str) -> str:
        return f"{name.upper()}-{self.tag}"


@exercise("00.fetch-all", title="Run slow calls concurrently", time_limit=10)
async def fetch_all_check(answer: Any) -> str:
    require_function(answer, "check('00.fetch-all', fetch_all)", is_async=True,
                     why="fetch_all must be an `async def`, so that it can await the calls.")
    fetch = _Fetcher()
    began = time.perf_counter()
    result = await answer(fetch, list(NAMES))
    elapsed = time.perf_counter() - began
    if isinstance(result, (list, tuple)) and any(inspect.isawaitable(r) for r in result):
        for item in result:
            if inspect.iscoroutine(item):
                item.close()
            elif isinstance(item, asyncio.Future):
                item.cancel()
        raise NotYet("Your list holds coroutines or tasks, not results: await them (asyncio.gather does that for you).",
                     code="`return await asyncio.gather(*(fetch(name) for name in names))`")
    expected = [fetch.answer(n) for n in NAMES]
    if sorted(fetch.calls) != sorted(NAMES):
        raise NotYet(f"fetch should be called once per name; it was called for {fetch.calls}. Return what those "
                     "calls return: a result written out or made up (e.g. the names in upper case) skips the lookup.")
    if isinstance(result, (list, tuple)) and list(result) != expected and list(result) == [n.upper() for n in NAMES]:
        raise NotYet(f"Your results were written out, not taken from fetch: this check's fetch returned "
                     f"{expected}. Return what the calls return, in the order of the names.")
    if list(result or []) != expected:
        raise NotYet(f"Expected {expected} (one result per name, in the order given), got {result!r}.")
    if fetch.peak < len(NAMES):
        raise NotYet(
            f"{len(NAMES)} calls of {CALL_S} s took {elapsed:.2f} s: at most {fetch.peak} ran at once. "
            "Awaiting each call in turn runs them one after another; start them all, then wait "
            "(asyncio.gather, or tasks in an asyncio.TaskGroup).",
            code="`return await asyncio.gather(*(fetch(name) for name in names))`",
        )
    return f"{len(NAMES)} calls of {CALL_S} s finished in {elapsed:.2f} s, all {fetch.peak} at once, results in order."
