"""Notebook 02's checkers, both ways: every correct style passes, each warned-about bug gets its hint."""

from __future__ import annotations

import asyncio
import functools
import gc
import time
import warnings

import pytest

from labkit.lessons import boundaries
from hint_asks import assert_idea_then_code
from labkit.exercises.framework import MODE_ENV, check, forget_hints


@pytest.fixture(autouse=True)
def no_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE_ENV, raising=False)


# -- 02.keep-it-sync ---------------------------------------------------------

def audit_def(log, event):
    log.append(event)


class Auditor:
    def __call__(self, log, event):
        log.append(event)


@pytest.mark.parametrize("answer", [audit_def, lambda log, event: log.append(event), Auditor(),
                                    functools.partial(audit_def)])
async def test_keep_it_sync_accepts(answer) -> None:
    result = await check("02.keep-it-sync", answer)
    assert result.passed, result.message


async def test_keep_it_sync_rejects_async_def() -> None:
    async def record_audit(log, event):
        log.append(event)

    result = await check("02.keep-it-sync", record_audit)
    assert not result.passed and "async def" in result.message and "coroutine" in result.message


async def test_keep_it_sync_rejects_a_sync_wrapper_returning_a_coroutine() -> None:
    async def inner(log, event):
        log.append(event)

    result = await check("02.keep-it-sync", lambda log, event: inner(log, event))
    assert not result.passed and "returned a coroutine" in result.message


def writes_the_whole_log(log, event):
    log[:] = ["login", "save", "logout"]  # changes the problem: the expected log, whatever happened


async def test_keep_it_sync_rejects_wrong_work_and_non_callables() -> None:
    assert "should be" in (await check("02.keep-it-sync", lambda log, event: None)).message
    result = await check("02.keep-it-sync", writes_the_whole_log)
    assert not result.passed and "append the event it is given" in result.message, result.message
    assert "Pass your function itself" in (await check("02.keep-it-sync", 42)).message


# -- 02.offload-sync ---------------------------------------------------------

async def summarise_to_thread(model, text):
    return await asyncio.to_thread(model.chat, text)


async def summarise_executor(model, text):
    return await asyncio.get_running_loop().run_in_executor(None, model.chat, text)


async def summarise_partial(model, text):
    return await asyncio.to_thread(functools.partial(model.chat, text))


@pytest.mark.parametrize("answer", [summarise_to_thread, summarise_executor, summarise_partial])
async def test_offload_accepts(answer) -> None:
    result = await check("02.offload-sync", answer)
    assert result.passed, result.message


async def test_offload_rejects_blocking_call() -> None:
    async def summarise(model, text):
        return model.chat(text)

    result = await check("02.offload-sync", summarise)
    assert not result.passed and "frozen" in result.message


async def test_offload_rejects_calling_before_to_thread() -> None:
    async def summarise(model, text):
        return await asyncio.to_thread(model.chat(text))

    result = await check("02.offload-sync", summarise)
    assert not result.passed and "pass the function" in result.message


async def test_offload_rejects_a_short_sync_sleep_in_the_async_def() -> None:
    async def summarise(model, text):
        time.sleep(0.1)  # under the old 150 ms limit, still a stall of the loop
        return await asyncio.to_thread(model.chat, text)

    result = await check("02.offload-sync", summarise)
    assert not result.passed and "inside summarise itself" in result.message, result.message


async def test_offload_verdicts_hold_on_a_loaded_machine(loaded_machine) -> None:
    async def sleeps_first(model, text):
        time.sleep(0.1)
        return await asyncio.to_thread(model.chat, text)

    async def blocks(model, text):
        return model.chat(text)

    for answer, right in [(summarise_to_thread, True), (summarise_executor, True), (sleeps_first, False),
                          (blocks, False)]:
        result = await check("02.offload-sync", answer)
        assert result.passed == right, (answer.__name__, loaded_machine, result.message)


async def test_offload_rejects_a_made_up_summary() -> None:
    async def summarise(model, text):  # changes the problem: never asks the model
        await asyncio.sleep(0.3)
        return f"summary of {text}"

    result = await check("02.offload-sync", summarise)
    assert not result.passed and "never called model.chat" in result.message, result.message


async def test_offload_rejects_sync_def_and_forgotten_await() -> None:
    assert "async def" in (await check("02.offload-sync", lambda model, text: model.chat(text))).message

    async def forgot(model, text):
        return asyncio.to_thread(model.chat, text)

    assert "coroutine" in (await check("02.offload-sync", forgot)).message


# -- 02.from-a-thread --------------------------------------------------------

def call_threadsafe(loop, coro_fn, *args):
    return asyncio.run_coroutine_threadsafe(coro_fn(*args), loop).result(timeout=5)


def call_threadsafe_waiting(loop, coro_fn, *args):
    future = asyncio.run_coroutine_threadsafe(coro_fn(*args), loop)
    while not future.done():
        time.sleep(0.01)
    return future.result()


@pytest.mark.parametrize("answer", [call_threadsafe, call_threadsafe_waiting])
async def test_from_a_thread_accepts(answer) -> None:
    result = await check("02.from-a-thread", answer)
    assert result.passed, result.message


async def test_from_a_thread_rejects_asyncio_run_in_the_thread() -> None:
    result = await check("02.from-a-thread", lambda loop, fn, *args: asyncio.run(fn(*args)))
    assert not result.passed and "new event loop" in result.message


async def test_from_a_thread_rejects_run_until_complete_and_unawaited() -> None:
    def reuse_loop(loop, fn, *args):
        return loop.run_until_complete(fn(*args))

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        assert "run_coroutine_threadsafe" in (await check("02.from-a-thread", reuse_loop)).message
        gc.collect()  # a coroutine the check made and left unclosed would warn here, in the learner's output
    assert [str(w.message) for w in seen if "never awaited" in str(w.message)] == []

    def no_wait(loop, fn, *args):
        return asyncio.run_coroutine_threadsafe(fn(*args), loop)

    forget_hints()
    first = await check("02.from-a-thread", no_wait)
    assert not first.passed and "block it on the future" in first.message and ".result(" not in first.message
    assert ".result(" in (await check("02.from-a-thread", no_wait)).code
    result = await check("02.from-a-thread", lambda loop, fn, *args: fn(*args))
    assert not result.passed and "awaitable" in result.message


def create_task_then_poll(loop, coro_fn, *args):
    task = loop.create_task(coro_fn(*args))  # not thread-safe: queued, but the sleeping loop is not woken
    while not task.done():
        time.sleep(0.01)
    return task.result()


def hard_coded(loop, coro_fn, *args):
    return 5  # changes the problem: the coroutine never runs


async def test_from_a_thread_requires_waking_the_loop() -> None:
    result = await check("02.from-a-thread", create_task_then_poll)
    assert not result.passed and "not thread-safe" in result.message, result.message


async def test_from_a_thread_rejects_a_hard_coded_result() -> None:
    result = await check("02.from-a-thread", hard_coded)
    assert not result.passed and "The coroutine never ran" in result.message, result.message


async def test_from_a_thread_rejects_async_def() -> None:
    async def call_on_loop(loop, fn, *args):
        return await fn(*args)

    assert "plain `def`" in (await check("02.from-a-thread", call_on_loop)).message


# -- demos -------------------------------------------------------------------

def test_made_async_demo_shows_the_silent_failure() -> None:
    outcome = boundaries.made_async_demo()
    assert outcome.facts["async version: caller says"] == "saved"
    assert outcome.facts["documents actually saved"] == ["report-1"]
    assert "never awaited" in str(outcome.facts["Python's warning"])
    assert "<table>" in outcome._repr_html_()


async def test_run_inside_running_loop_is_refused_safely() -> None:
    outcome = await asyncio.to_thread(boundaries.run_inside_running_loop)
    assert outcome.ok and "cannot be called from a running event loop" in str(outcome.facts["asyncio.run(...) gave"])


def test_signal_demo_in_a_real_subprocess() -> None:
    good = boundaries.signal_demo("stop-event")
    assert good.ok and "stopped cleanly" in str(good.facts["worker said"])
    bad = boundaries.signal_demo("async-handler", grace_s=1)
    assert not bad.ok and "never awaited" in str(bad.facts["warning on stderr"])
    with pytest.raises(ValueError, match="mode must be one of"):
        boundaries.signal_demo("nope")


# -- hints: the idea first, the code on a second ask ---------------------------

SPELLED_OUT = ("to_thread(", "run_coroutine_threadsafe(", ".result(", "asyncio.sleep(")


async def summarise_blocking(model, text):
    return model.chat(text)


async def summarise_calls_first(model, text):
    return await asyncio.to_thread(model.chat(text))


async def summarise_sleeps_first(model, text):
    time.sleep(0.1)
    return await asyncio.to_thread(model.chat, text)


def hands_over_without_waiting(loop, coro_fn, *args):
    return asyncio.run_coroutine_threadsafe(coro_fn(*args), loop)


def runs_the_loop_itself(loop, coro_fn, *args):
    return loop.run_until_complete(coro_fn(*args))


@pytest.mark.parametrize("exercise_id, answer, code", [
    ("02.offload-sync", summarise_blocking, "asyncio.to_thread(model.chat, text)"),
    ("02.offload-sync", summarise_calls_first, "asyncio.to_thread(model.chat, text)"),
    ("02.offload-sync", summarise_sleeps_first, "await asyncio.sleep(...)"),
    ("02.from-a-thread", hands_over_without_waiting, "run_coroutine_threadsafe(coro_fn(*args), loop).result("),
    ("02.from-a-thread", runs_the_loop_itself, "run_coroutine_threadsafe(coro_fn(*args), loop).result("),
])
async def test_02_hints_give_the_idea_first_and_the_code_on_a_second_ask(exercise_id, answer, code) -> None:
    await assert_idea_then_code(exercise_id, answer, code, SPELLED_OUT)


async def test_02_right_answers_still_pass_after_a_hint() -> None:
    forget_hints()
    assert not (await check("02.offload-sync", summarise_blocking)).passed
    result = await check("02.offload-sync", summarise_to_thread)
    assert result.passed and not result.code and not result.code_kept_back, result.message
