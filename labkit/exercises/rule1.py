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

import psutil

from ..model import llm
from ..model.endpoint import running_endpoint
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
    try:
        value = fn(*args)
        if inspect.isawaitable(value):
            value = await value
            awaited = True
        else:
            awaited = False
    except TypeError as exc:
        if "not callable" not in str(exc):
            raise
        raise NotYet(
            f"{exc}: the executor got the *result* of the call, which had already run on the loop. Pass the "
            "function and its arguments separately, so the executor makes the call where it runs.",
            code="`asyncio.to_thread(llm.chat, system_msg, history, conf)` (or `loop.run_in_executor(pool, "
            "llm.chat_cpu, system_msg, history, conf)`), not `asyncio.to_thread(llm.chat(system_msg, history, conf))`.",
        ) from None
    if not awaited:
        _discard(value)
        raise NotYet(
            f"{name} returned {type(value).__name__}, not something to await: it must be an `async def` "
            f"so async callers can `await {name}(...)` while the loop keeps running."
        )
    if inspect.isawaitable(value):
        kind = "coroutine" if inspect.iscoroutine(value) else type(value).__name__
        _discard(value)
        raise NotYet(
            f"{name} returned a {kind} instead of the reply: the offload was started but never awaited. "
            "Put `await` in front of it, e.g. `return await asyncio.to_thread(...)`."
        )
    return value, loop.time() - began


async def _model_answered(history: list[Any], conf: dict[str, Any]) -> bool:
    """Did the model really answer this request: the stand-in in this process, or the lab's local server?"""
    if llm.served(SYSTEM_MSG, history, conf):
        return True
    endpoint = running_endpoint()
    if endpoint is None:
        return False
    try:
        return await asyncio.to_thread(endpoint.served, llm.reply_for(SYSTEM_MSG, history, conf)) > 0
    except Exception:  # noqa: BLE001 - the server is gone: no witness, so do not blame the learner
        return True


def _held_the_loop(result: MonitorResult, work_s: float) -> bool:
    """Did the loop stall for at least half of ``work_s``, the time the blocking work itself takes?

    A contrast, not a threshold on one pause: a blocking call holds the loop for as long as it runs, while a
    busy machine (a class sharing two cores) only stretches the loop's short passes, by tens of milliseconds.
    """
    return result.stall_count > 0 and result.stalled_s >= 0.5 * work_s


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
        if not await _model_answered(history, conf):
            raise NotYet(
                "handle returned the right text, but the model never answered the request: the reply was made up "
                "(llm.reply_for, or a copied string), so nothing was offloaded. Call the model and return its reply.",
                code="`return await asyncio.to_thread(llm.chat, system_msg, history, conf)` or "
                "`return await llm.achat(system_msg, history, conf)`.",
            )
    if _held_the_loop(result, CHAT_REQUESTS * CHAT_LATENCY_S):
        raise NotYet(
            _stall_hint(
                result,
                "A sync client (OpenAI, httpx.Client, requests, llm.chat) holds the loop while it waits for the "
                "model. Hand the call to a thread and await it, or call an async client instead.",
            ),
            code="`response = await asyncio.to_thread(sync_client.chat.completions.create, "
            "**ask(system_msg, history, conf))`, or `response = await async_client.chat.completions.create("
            "**ask(system_msg, history, conf))`; then `return response.choices[0].message.content`.",
        )
    # Requests that overlapped all end about when the quickest one does; one after another, the last ends
    # CHAT_REQUESTS times later. Both stretch alike on a busy machine, so compare them, not a fixed time.
    quickest = min(seconds for _, seconds in outcomes)
    if elapsed > 2 * quickest:
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
CPU_CODE = ("`loop = asyncio.get_running_loop()`, then "
            "`return await loop.run_in_executor(cpu_pool, llm.chat_cpu, system_msg, history, conf)`.")


def _pickling_problem(exc: BaseException) -> bool:
    """A function the pool could not send: Python 3.13 says "AttributeError: Can't get local object"."""
    text = f"{type(exc).__name__}: {exc} {exc.__cause__ or ''}".lower()
    return isinstance(exc, pickle.PicklingError) or any(
        words in text for words in ("pickl", "can't get attribute", "can't get local object"))


@exercise("01.cpu-executor", title="Pick the right executor for CPU-bound work", time_limit=40)
async def check_cpu_executor(score: Any) -> str:
    """``score`` must run ``llm.chat_cpu`` so that the loop does not even lag by a GIL switch interval."""
    _reject_non_function(score, "score", "labkit.check('01.cpu-executor', score)")
    conf = {"latency_s": CPU_LATENCY_S}
    history = [f"score document {uuid.uuid4().hex[:6]}"]
    try:
        # A first short call starts any worker processes; start-up is not what we measure.
        await _with_limit(_call(score, "score", SYSTEM_MSG, ["warm up"], {"latency_s": 0.01}), 30.0, "score")
        children_cpu = _children_cpu_s()
        async with LoopMonitor(stall_threshold=CHECK_STALL_S) as mon:
            reply, seconds = await _with_limit(_call(score, "score", SYSTEM_MSG, history, conf), 8.0, "score")
        children_cpu = _children_cpu_s(children_cpu)
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
                "pass llm.chat_cpu itself and its arguments (not a lambda or a function defined in the notebook).",
                code=CPU_CODE,
            ) from None
        raise
    result = mon.result()
    expected = llm.reply_for(SYSTEM_MSG, history, conf)
    if reply != expected:
        raise NotYet(f"score returned {reply!r:.80}, but llm.chat_cpu's reply was {expected!r}: return it unchanged.")
    if seconds < 0.9 * CPU_LATENCY_S:
        raise NotYet("score returned before llm.chat_cpu could have finished: await the result of the work.")
    if llm.served(SYSTEM_MSG, history, conf, work="io"):
        raise NotYet(
            "score called llm.chat, the I/O stand-in that only waits, so there was no CPU work to place: the "
            "exercise is the CPU-bound llm.chat_cpu. Run that one, in a process pool."
        )
    if _held_the_loop(result, CPU_LATENCY_S):
        raise NotYet(
            _stall_hint(
                result,
                "The CPU-bound call ran on the event loop. Async alone does not help with CPU work: send it to "
                "another process, which computes while the loop runs.",
            ),
            code=CPU_CODE,
        )
    if llm.served(SYSTEM_MSG, history, conf, work="cpu"):
        # Where it ran, not how late the ticks were: a busy machine delays ticks too, a thread is a fact.
        switch_ms = sys.getswitchinterval() * 1000
        raise NotYet(
            f"No long stall, but llm.chat_cpu ran in this kernel's own process (the loop waited {result.p50_ms:.1f} "
            f"ms at a typical tick; the GIL switch interval is {switch_ms:g} ms). chat_cpu holds the GIL, so a thread "
            "(to_thread or a thread pool) makes every other task wait for its turn. Use a process pool: it has its "
            "own GIL.",
            code=CPU_CODE,
        )
    if children_cpu < CHILD_CPU_SHARE * CPU_LATENCY_S:
        raise NotYet(
            f"No process of this kernel computed anything while score ran (its child processes used "
            f"{children_cpu * 1000:.0f} ms of CPU; chat_cpu burns {CPU_LATENCY_S:g} s), yet score returned "
            "chat_cpu's reply: the CPU work never ran. Send llm.chat_cpu itself to the process pool and "
            "return its reply.",
            code=CPU_CODE,
        )
    return (
        f"chat_cpu ran for {seconds:.2f} s in another process ({children_cpu:.2f} s of its CPU) while the "
        f"loop's typical lag stayed at {result.p50_ms:.2f} ms (p99 {result.p99_ms:.1f} ms): the work had its own GIL."
    )


CHILD_CPU_SHARE = 0.6


def _children_cpu_s(since: float = 0.0) -> float:
    """CPU seconds used by this process's descendants (a process pool's workers), minus ``since``."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # exited meanwhile
            continue
        total += times.user + times.system
    return total - since


# --------------------------------------------------------------------------- 01.find-blocker

DOCS = ("doc-a", "doc-b", "doc-c")
CHECKPOINT_CODE = ("`async def save(self, doc_id, vectors):` with the body "
                   "`await asyncio.to_thread(self.write_checkpoint, doc_id, vectors)`.")


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


def _witness_checkpoints(service: IngestService) -> list[str]:
    """Note each durable write the service makes (whatever thread makes it), still doing the write."""
    written: list[str] = []
    write = service.write_checkpoint

    def recorded(doc_id: str, vectors: tuple[int, ...]) -> None:
        write(doc_id, vectors)
        written.append(doc_id)

    service.write_checkpoint = recorded  # type: ignore[method-assign]
    return written


async def _check_service(service: IngestService) -> str:
    loop = asyncio.get_running_loop()
    written = _witness_checkpoints(service)
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
    skipped = [doc for doc in DOCS if doc not in written]
    if skipped or elapsed < 0.9 * IngestService.checkpoint_s:
        raise NotYet(
            "No stall, but the durable checkpoint write was "
            + (f"never made for {', '.join(skipped)}" if skipped else
               f"cut short ({len(DOCS)} documents in {elapsed:.2f} s; one write takes {IngestService.checkpoint_s:g} s)")
            + ": removing the write removes the stall and the durability with it. Keep "
            "`self.write_checkpoint(doc_id, vectors)` and run it off the loop.",
            code=CHECKPOINT_CODE,
        )
    if _held_the_loop(result, len(DOCS) * IngestService.checkpoint_s):
        raise NotYet(
            _stall_hint(result, "Override the async step that makes that call, and have it await the call in a "
                                "thread instead of making it on the loop."),
            code=CHECKPOINT_CODE,
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
