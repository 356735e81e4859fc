"""Checks for notebook 01 (rule 1: keep async code non-blocking).

Each check runs the learner's code under :class:`LoopMonitor` on the check's
own loop and passes or fails on what it measured: stalls (with the stack that
caused them), tick lag, whether the requests overlapped, and the replies.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import pickle
import sys
import uuid
from typing import Any, Callable

from ..model import llm
from .framework import NotYet, exercise, require_function
from ..instruments.loop_monitor import LoopMonitor, MonitorResult
from ..lessons.mystery_service import IngestService, Receipt

SYSTEM_MSG = "You answer questions about ingested documents."


# --------------------------------------------------------------------------- shared helpers


def _reject_non_function(answer: Any, name: str, example: str) -> None:
    require_function(answer, example, is_async=None, what=name)


def _discard(value: Any) -> None:
    """Stop a coroutine or future the learner returned by mistake, so nothing runs on unseen."""
    if inspect.iscoroutine(value):
        value.close()
    elif isinstance(value, (asyncio.Future, concurrent.futures.Future)):
        value.cancel()


async def _call(fn: Callable[..., Any], name: str, *args: Any) -> tuple[Any, float]:
    """Call the learner's function the way an async caller would; return (value, seconds)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    value = fn(*args)
    if not inspect.isawaitable(value):
        _discard(value)
        raise NotYet(
            f"{name} returned {type(value).__name__}, not something to await: it must be an `async def` "
            f"so async callers can `await {name}(...)` while the loop keeps running."
        )
    value = await value
    if inspect.isawaitable(value):
        kind = "coroutine" if inspect.iscoroutine(value) else type(value).__name__
        _discard(value)
        raise NotYet(
            f"{name} returned a {kind} instead of the reply: the offload was started but never awaited. "
            "Put `await` in front of it, e.g. `return await asyncio.to_thread(...)`."
        )
    return value, loop.time() - began


def _stall_hint(result: MonitorResult, fix: str) -> str:
    worst = max(result.stalls, key=lambda s: s.duration_s)
    return (
        f"The event loop stalled {result.stall_count} time(s), {result.stalled_s * 1000:.0f} ms in total; "
        f"the monitor caught it in {worst.where}. {fix}"
    )


async def _with_limit(coro: Any, seconds: float, what: str) -> Any:
    try:
        return await asyncio.wait_for(coro, timeout=seconds)
    except asyncio.TimeoutError:
        raise NotYet(f"{what} did not finish within {seconds:g} s. Is it waiting for something that never comes?") from None


# --------------------------------------------------------------------------- 01.offload-chat

CHAT_LATENCY_S = 0.3
CHAT_REQUESTS = 3
# The checks look for a blocking call (0.25 s or more), not for the few tens of
# milliseconds an async client's own work (connecting, parsing) or starting a thread
# can take on a busy machine.
CHECK_STALL_S = 0.1


@exercise("01.offload-chat", title="Offload a blocking chat() from an async handler", time_limit=15)
async def check_offload_chat(handle: Any) -> str:
    """Three concurrent requests through ``handle``: no stall, overlapping, right replies."""
    _reject_non_function(handle, "handle", "labkit.check('01.offload-chat', handle)")
    conf = {"latency_s": CHAT_LATENCY_S}
    nonce = uuid.uuid4().hex[:6]
    histories = [[{"role": "user", "content": f"question {i} ({nonce})"}] for i in range(CHAT_REQUESTS)]
    loop = asyncio.get_running_loop()
    # A first quick call lets a client connect (and make its per-loop state); that is not what we measure.
    await _with_limit(_call(handle, "handle", SYSTEM_MSG, [f"warm up ({nonce})"], {"latency_s": 0}), 8.0, "handle")
    async with LoopMonitor(stall_threshold=CHECK_STALL_S) as mon:
        began = loop.time()
        outcomes = await _with_limit(
            asyncio.gather(*(_call(handle, "handle", SYSTEM_MSG, h, conf) for h in histories)),
            8.0,
            "handle",
        )
        elapsed = loop.time() - began
    result = mon.result()
    for history, (reply, seconds) in zip(histories, outcomes):
        expected = llm.reply_for(SYSTEM_MSG, history, conf)
        if reply != expected:
            raise NotYet(
                f"handle returned {reply!r:.80} but the model's reply was {expected!r}. Return the model's reply "
                "(response.choices[0].message.content), passing all three arguments through (ask(system_msg, "
                "history, conf) builds the request)."
            )
        if seconds < 0.9 * CHAT_LATENCY_S:
            raise NotYet(
                f"handle returned after {seconds * 1000:.0f} ms, before the model could answer "
                f"({CHAT_LATENCY_S * 1000:.0f} ms): wait for the reply instead of starting the call and moving on."
            )
    if result.stall_count:
        raise NotYet(
            _stall_hint(
                result,
                "A sync client (OpenAI, httpx.Client, requests, llm.chat) blocks: run the call in a thread, "
                "`await asyncio.to_thread(sync_client.chat.completions.create, **ask(system_msg, history, conf))`, "
                "or use the async client, `await async_client.chat.completions.create(...)`.",
            )
        )
    if elapsed > 2 * CHAT_LATENCY_S:
        raise NotYet(
            f"No stall, but {CHAT_REQUESTS} requests of {CHAT_LATENCY_S:g} s took {elapsed:.2f} s together: they "
            "ran one after another. Is your executor limited to one worker, or is a lock serialising them?"
        )
    return (
        f"{CHAT_REQUESTS} requests of {CHAT_LATENCY_S:g} s finished in {elapsed:.2f} s together; "
        f"the loop never stalled (lag p99 {result.p99_ms:.1f} ms)."
    )


# --------------------------------------------------------------------------- 01.cpu-executor

CPU_LATENCY_S = 0.4


def _pickling_problem(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}".lower()
    return isinstance(exc, pickle.PicklingError) or "pickle" in text or "can't get attribute" in text


@exercise("01.cpu-executor", title="Pick the right executor for CPU-bound work", time_limit=40)
async def check_cpu_executor(score: Any) -> str:
    """``score`` must run ``llm.chat_cpu`` so that the loop does not even lag by a GIL switch interval."""
    _reject_non_function(score, "score", "labkit.check('01.cpu-executor', score)")
    conf = {"latency_s": CPU_LATENCY_S}
    history = [f"score document {uuid.uuid4().hex[:6]}"]
    try:
        # A first short call starts any worker processes; start-up is not what we measure.
        await _with_limit(_call(score, "score", SYSTEM_MSG, ["warm up"], {"latency_s": 0.01}), 30.0, "score")
        async with LoopMonitor(stall_threshold=CHECK_STALL_S) as mon:
            reply, seconds = await _with_limit(_call(score, "score", SYSTEM_MSG, history, conf), 8.0, "score")
    except NotYet:
        raise
    except concurrent.futures.process.BrokenProcessPool:
        raise NotYet(
            "The process pool's worker died. Create a fresh pool (e.g. "
            "ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context('spawn'))) and try again."
        ) from None
    except Exception as exc:
        if _pickling_problem(exc):
            raise NotYet(
                "A process pool sends the function to another process by name, so it must be importable: "
                "pass llm.chat_cpu itself and its arguments (not a lambda or a function defined in the notebook): "
                "loop.run_in_executor(pool, llm.chat_cpu, system_msg, history, conf)."
            ) from None
        raise
    result = mon.result()
    expected = llm.reply_for(SYSTEM_MSG, history, conf)
    if reply != expected:
        raise NotYet(f"score returned {reply!r:.80}, but llm.chat_cpu's reply was {expected!r}: return it unchanged.")
    if seconds < 0.9 * CPU_LATENCY_S:
        raise NotYet("score returned before llm.chat_cpu could have finished: await the result of the work.")
    if result.stall_count:
        raise NotYet(
            _stall_hint(
                result,
                "The CPU-bound call ran on the event loop. Async alone does not help with CPU work: send it to a "
                "process pool with `await loop.run_in_executor(pool, llm.chat_cpu, system_msg, history, conf)`.",
            )
        )
    switch_ms = sys.getswitchinterval() * 1000
    if result.p50_ms >= max(1.5, switch_ms / 2):
        raise NotYet(
            f"No stall, but the loop waited {result.p50_ms:.1f} ms at a typical tick (p50; the GIL switch interval is "
            f"{switch_ms:g} ms). chat_cpu holds the GIL, so a thread (to_thread or a thread pool) makes every other "
            "task wait for its turn. Use a process pool: it has its own GIL."
        )
    return (
        f"chat_cpu ran for {seconds:.2f} s while the loop's typical lag stayed at {result.p50_ms:.2f} ms "
        f"(p99 {result.p99_ms:.1f} ms): the work had its own GIL."
    )


# --------------------------------------------------------------------------- 01.find-blocker

DOCS = ("doc-a", "doc-b", "doc-c")


def _name_of(text: str) -> str:
    return text.strip().strip("`'\"").removesuffix("()").split(".")[-1].strip().lower()


async def _culprit() -> str:
    """Find the hidden blocking call the way the learner should: run the service under the monitor."""
    async with LoopMonitor() as mon:
        await IngestService().ingest("doc-probe")
    stalls = mon.result().stalls
    if not stalls or stalls[0].function is None:
        raise RuntimeError("the monitor did not attribute the service's stall; the exercise cannot be checked")
    return stalls[0].function.split(".")[-1].lower()


async def _check_service(service: IngestService) -> str:
    loop = asyncio.get_running_loop()
    async with LoopMonitor(stall_threshold=CHECK_STALL_S) as mon:
        began = loop.time()
        receipts = await _with_limit(
            asyncio.gather(*(service.ingest(doc) for doc in DOCS)), 8.0, "your service's ingest()"
        )
        elapsed = loop.time() - began
    result = mon.result()
    reference = IngestService()
    for doc, receipt in zip(DOCS, receipts):
        if not isinstance(receipt, Receipt) or doc not in service.index:
            raise NotYet(
                f"ingest({doc!r}) returned {receipt!r:.60} and the document is "
                f"{'in' if doc in service.index else 'not in'} the index: keep every step, just stop it blocking."
            )
        if service.index[doc] != await reference.embed(await reference.split(await reference.fetch(doc))):
            raise NotYet(f"The vectors saved for {doc!r} are not the ones embed() produced: save them unchanged.")
    if result.stall_count:
        raise NotYet(
            _stall_hint(result, "Offload that call with `await asyncio.to_thread(...)` inside the async step that makes it.")
        )
    serial = len(DOCS) * IngestService.checkpoint_s
    if elapsed >= serial:
        raise NotYet(f"No stall, but {len(DOCS)} documents took {elapsed:.2f} s: the checkpoints still ran one at a time.")
    return f"{len(DOCS)} documents ingested in {elapsed:.2f} s with no stall (lag p99 {result.p99_ms:.1f} ms)."


@exercise("01.find-blocker", title="Find the hidden blocking call", time_limit=15)
async def check_find_blocker(answer: Any) -> str:
    """Accepts the culprit's name, or a fixed ``IngestService`` subclass (or instance)."""
    if isinstance(answer, str):
        culprit = await _culprit()
        named = _name_of(answer)
        if named == culprit:
            return f"Yes: {culprit}() is the sync call that holds the loop, inside the async step save()."
        if named == "save":
            raise NotYet(
                "save() is the async step it happens in, but the stall's stack goes one frame deeper: "
                "which call inside save() holds the loop? (Read stall.culprit, the innermost frame.)"
            )
        if named in {"ingest", "fetch", "split", "embed"}:
            raise NotYet(
                f"{named}() is not where the loop stopped. Run `async with LoopMonitor() as mon: "
                "await IngestService().ingest('doc-1')` and read mon.result().stalls[0].where."
            )
        if named == "sleep":
            raise NotYet("time.sleep is only how the demo pretends to wait on a disk; which method of the service calls it?")
        raise NotYet(
            f"{answer!r} is not a function the service runs. Run it under LoopMonitor and read "
            "mon.result().stalls[0].culprit.function."
        )
    if isinstance(answer, type) and issubclass(answer, IngestService):
        if answer is IngestService:
            answer = answer()  # the original: measured, so the hint shows the stall
        else:
            try:
                answer = answer()
            except TypeError as exc:
                raise NotYet(f"Your service class could not be created with no arguments: {exc}") from None
    if isinstance(answer, IngestService):
        return await _check_service(answer)
    raise NotYet(
        "Answer with the name of the blocking function as a string (e.g. labkit.check('01.find-blocker', "
        "'some_function')) or with your fixed subclass of IngestService; "
        f"got {type(answer).__name__}."
    )
