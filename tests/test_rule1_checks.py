"""Notebook 01's checks: every correct style passes, each plausible mistake gets its own hint."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import multiprocessing
import time
from typing import Any

import httpx
import pytest

from labkit import llm
from labkit.model.endpoint import ask, model_endpoint
from labkit.exercises.framework import ASK_AGAIN, check, forget_hints
from labkit.lessons.mystery_service import IngestService


@pytest.fixture(autouse=True)
def _plain_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)


# --------------------------------------------------------------------------- 01.offload-chat

_threads = concurrent.futures.ThreadPoolExecutor(max_workers=4)
_one_thread = concurrent.futures.ThreadPoolExecutor(max_workers=1)


async def with_to_thread(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat, system_msg, history, conf)


async def with_default_executor(system_msg, history, conf):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, llm.chat, system_msg, history, conf)


async def with_own_thread_pool(system_msg, history, conf):
    return await asyncio.wrap_future(_threads.submit(llm.chat, system_msg, history, conf))


async def with_async_client(system_msg, history, conf):
    return await llm.achat(system_msg, history, conf)


async def with_async_client_object(system_msg, history, conf):
    reply = await llm.AsyncChatModel().chat(system_msg, history, conf)
    return reply


async def blocking_original(system_msg, history, conf):
    return llm.chat(system_msg, history, conf)


async def never_awaited(system_msg, history, conf):
    return asyncio.to_thread(llm.chat, system_msg, history, conf)


async def future_never_awaited(system_msg, history, conf):
    return asyncio.get_running_loop().run_in_executor(None, llm.chat, system_msg, history, conf)


async def fire_and_forget(system_msg, history, conf):
    asyncio.ensure_future(asyncio.to_thread(llm.chat, system_msg, history, conf))
    return llm.reply_for(system_msg, history, conf)


def plain_function(system_msg, history, conf):
    return llm.chat(system_msg, history, conf)


async def single_worker(system_msg, history, conf):
    return await asyncio.wrap_future(_one_thread.submit(llm.chat, system_msg, history, conf))


async def drops_conf(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat, system_msg, history, {"latency_s": 0.3, "model": "other"})


async def raises(system_msg, history, conf):
    raise KeyError("history")


async def hangs(system_msg, history, conf):
    await asyncio.Event().wait()


# --- the real clients learners write: the openai SDK and httpx, against the lab's local endpoint


@functools.cache
def sdk() -> tuple[Any, Any]:
    endpoint = model_endpoint()
    return endpoint.client(), endpoint.async_client()


async def sdk_async(system_msg, history, conf):
    response = await sdk()[1].chat.completions.create(**ask(system_msg, history, conf))
    return response.choices[0].message.content


async def sdk_async_streamed(system_msg, history, conf):
    stream = await sdk()[1].chat.completions.create(**ask(system_msg, history, conf), stream=True)
    return "".join([chunk.choices[0].delta.content or "" async for chunk in stream])


async def sdk_sync_in_a_thread(system_msg, history, conf):
    response = await asyncio.to_thread(sdk()[0].chat.completions.create, **ask(system_msg, history, conf))
    return response.choices[0].message.content


async def sdk_sync_on_the_loop(system_msg, history, conf):
    response = sdk()[0].chat.completions.create(**ask(system_msg, history, conf))  # the sync SDK on the loop
    return response.choices[0].message.content


async def httpx_sync_on_the_loop(system_msg, history, conf):
    endpoint = model_endpoint()
    body = {"messages": ask(system_msg, history)["messages"], **conf}
    reply = httpx.post(endpoint.base_url + "/chat/completions", json=body, headers=endpoint.headers)
    return reply.json()["choices"][0]["message"]["content"]


async def forged_reply(system_msg, history, conf):
    # changes the problem: waits like the model, then computes its reply without asking it
    await asyncio.sleep(0.3)
    return llm.reply_for(system_msg, history, conf)


async def result_to_to_thread(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat(system_msg, history, conf))


@pytest.mark.parametrize(
    "handle",
    [with_to_thread, with_default_executor, with_own_thread_pool, with_async_client, with_async_client_object,
     sdk_async, sdk_async_streamed, sdk_sync_in_a_thread],
)
async def test_offload_chat_accepts_every_correct_style(handle) -> None:
    result = await check("01.offload-chat", handle)
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("handle", "hint"),
    [
        (blocking_original, "stalled"),
        (sdk_sync_on_the_loop, "stalled"),
        (httpx_sync_on_the_loop, "stalled"),
        (never_awaited, "never awaited"),
        (future_never_awaited, "never awaited"),
        (fire_and_forget, "before the model could answer"),
        (plain_function, "async def"),
        (single_worker, "one after another"),
        (drops_conf, "passing all three arguments"),
        (raises, "KeyError"),
        (hangs, "did not finish"),
        (forged_reply, "the model never answered the request"),
        (result_to_to_thread, "the executor got the *result* of the call"),
    ],
)
async def test_offload_chat_rejects_mistakes_with_a_specific_hint(handle, hint: str) -> None:
    result = await check("01.offload-chat", handle)
    assert not result.passed
    assert hint in result.message


async def test_blocking_hint_names_the_blocking_call() -> None:
    result = await check("01.offload-chat", blocking_original)
    assert "chat (labkit/model/llm.py" in result.message
    assert "blocking_original" in result.message


SPELLED_OUT = ("to_thread(", "run_in_executor(", ".create(")


async def test_a_hint_gives_the_idea_first_and_the_code_on_a_second_ask() -> None:
    """The notebook's stub blocks: the first card says why and what to do, the second spells the call out."""
    forget_hints()
    first = await check("01.offload-chat", sdk_sync_on_the_loop)
    card = first._repr_html_()
    assert not first.passed and "thread" in first.message and "async client" in first.message
    assert not first.code and first.code_kept_back and ASK_AGAIN in card and ASK_AGAIN in repr(first)
    assert not any(call in first.message or call in card for call in SPELLED_OUT), card
    second = await check("01.offload-chat", sdk_sync_on_the_loop)
    assert not second.passed and "asyncio.to_thread(sync_client.chat.completions.create" in second.code
    assert not second.code_kept_back and ASK_AGAIN not in second._repr_html_()
    assert "<code>response = await asyncio.to_thread(" in second._repr_html_()  # rendered as code, not backticks
    other = await check("01.offload-chat", forged_reply)  # another mistake starts at its own idea
    assert not other.code and other.code_kept_back


async def test_hints_without_code_are_shown_whole_at_once() -> None:
    forget_hints()
    result = await check("01.offload-chat", plain_function)
    assert not result.passed and "async def" in result.message
    assert not result.code and not result.code_kept_back and ASK_AGAIN not in result._repr_html_()


async def test_the_sync_sdk_on_the_loop_is_named_to_the_learners_line() -> None:
    result = await check("01.offload-chat", sdk_sync_on_the_loop)
    assert "sdk_sync_on_the_loop" in result.message and "openai" not in result.message.split("caught it in")[1]


async def test_an_async_client_shared_with_the_kernels_loop_still_passes() -> None:
    """The notebook uses the async client on the kernel's loop first; the check runs on its own loop."""
    assert await sdk_async("s", ["before the check"], {"latency_s": 0}) is not None
    result = await check("01.offload-chat", sdk_async)
    assert result.passed, result.message


async def test_passing_a_call_instead_of_the_function() -> None:
    result = await check("01.offload-chat", with_to_thread("s", [], None))
    assert not result.passed and "Pass the function itself" in result.message


def sync_hang(system_msg, history, conf):
    time.sleep(2.5)


async def test_a_sync_hang_is_abandoned_within_the_time_limit_and_the_loop_survives() -> None:
    began = time.perf_counter()
    result = await check("01.offload-chat", sync_hang, time_limit=1)
    assert time.perf_counter() - began < 1.5
    assert not result.passed and "did not finish within 1 s" in result.message
    tick = time.perf_counter()
    await asyncio.sleep(0.01)
    assert time.perf_counter() - tick < 0.2  # the test's own loop was never blocked


# --------------------------------------------------------------------------- 01.cpu-executor


@pytest.fixture(scope="module")
def process_pool():
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    yield pool
    pool.shutdown(cancel_futures=True)


async def test_cpu_executor_accepts_a_process_pool(process_pool) -> None:
    async def score(system_msg, history, conf):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(process_pool, llm.chat_cpu, system_msg, history, conf)

    async def score_wrapped(system_msg, history, conf):
        return await asyncio.wrap_future(process_pool.submit(llm.chat_cpu, system_msg, history, conf))

    for answer in (score, score_wrapped):
        result = await check("01.cpu-executor", answer)
        assert result.passed, result.message


async def test_cpu_executor_rejects_to_thread_with_the_gil_hint() -> None:
    async def score(system_msg, history, conf):
        return await asyncio.to_thread(llm.chat_cpu, system_msg, history, conf)

    result = await check("01.cpu-executor", score)
    assert not result.passed
    assert "GIL" in result.message and "process pool" in result.message


async def test_the_learner_stubs_first_hints_hold_no_spelled_out_call() -> None:
    """Each 01 stub as the learner notebook has it: the first card never hands over the call."""
    async def score(system_msg, history, conf):  # notebook 01's stub for exercise 2
        return await asyncio.to_thread(llm.chat_cpu, system_msg, history, conf)

    forget_hints()
    for exercise_id, stub in [("01.offload-chat", sdk_sync_on_the_loop), ("01.cpu-executor", score),
                              ("01.find-blocker", IngestService)]:
        result = await check(exercise_id, stub)
        assert not result.passed and result.code_kept_back, (exercise_id, result.message)
        assert not any(call in result.message for call in SPELLED_OUT), (exercise_id, result.message)


async def test_cpu_executor_rejects_work_on_the_loop() -> None:
    async def score(system_msg, history, conf):
        return llm.chat_cpu(system_msg, history, conf)

    result = await check("01.cpu-executor", score)
    assert not result.passed
    assert "stalled" in result.message and "burn_cpu" in result.message


async def test_cpu_executor_rejects_the_io_stand_in(process_pool) -> None:
    """Changing the problem: llm.chat only waits, so there is no CPU work to place at all."""

    async def in_a_thread(system_msg, history, conf):
        return await asyncio.to_thread(llm.chat, system_msg, history, conf)

    async def in_the_pool(system_msg, history, conf):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(process_pool, llm.chat, system_msg, history, conf)

    result = await check("01.cpu-executor", in_a_thread)
    assert not result.passed and "called llm.chat, the I/O stand-in" in result.message, result.message
    result = await check("01.cpu-executor", in_the_pool)
    assert not result.passed and "the CPU work never ran" in result.message, result.message


async def test_cpu_executor_explains_unpicklable_work(process_pool) -> None:
    async def score(system_msg, history, conf):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(process_pool, lambda: llm.chat_cpu(system_msg, history, conf))

    result = await check("01.cpu-executor", score)
    assert not result.passed
    assert "importable" in result.message


# --------------------------------------------------------------------------- 01.find-blocker


class FixedService(IngestService):
    async def save(self, doc_id, vectors):
        await asyncio.to_thread(self.write_checkpoint, doc_id, vectors)


class DeletedWrite(IngestService):
    """Changes the problem: no durable write, so no stall."""

    async def save(self, doc_id, vectors):
        self.index[doc_id] = vectors


class FasterDisk(IngestService):
    """Changes the problem: a checkpoint that takes no time."""

    checkpoint_s = 0.0

    async def save(self, doc_id, vectors):
        self.write_checkpoint(doc_id, vectors)


@pytest.mark.parametrize("answer", ["write_checkpoint", "IngestService.write_checkpoint()", " `write_checkpoint` "])
async def test_find_blocker_accepts_the_culprit_by_name(answer: str) -> None:
    result = await check("01.find-blocker", answer)
    assert result.passed, result.message


@pytest.mark.parametrize("answer", [FixedService, FixedService()])
async def test_find_blocker_accepts_a_fixed_service(answer) -> None:
    result = await check("01.find-blocker", answer)
    assert result.passed, result.message


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ("save", "one frame deeper"),
        ("ingest", "not where the loop stopped"),
        ("time.sleep", "which method"),
        ("fsync", "not a function the service runs"),
        (IngestService, "write_checkpoint"),
        (42, "name of the blocking function"),
        (DeletedWrite, "never made for doc-a"),
        (FasterDisk, "cut short"),
    ],
)
async def test_find_blocker_hints(answer, hint: str) -> None:
    result = await check("01.find-blocker", answer)
    assert not result.passed
    assert hint in result.message


# --------------------------------------------------------------------------- on a loaded machine


async def test_verdicts_hold_on_a_loaded_machine(loaded_machine, process_pool) -> None:
    """Correct answers still pass and blocking ones are still caught when the CPUs are oversubscribed."""

    async def score(system_msg, history, conf):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(process_pool, llm.chat_cpu, system_msg, history, conf)

    async def score_in_a_thread(system_msg, history, conf):
        return await asyncio.to_thread(llm.chat_cpu, system_msg, history, conf)

    for exercise_id, answer, right in [
        ("01.offload-chat", with_to_thread, True), ("01.offload-chat", with_async_client, True),
        ("01.offload-chat", sdk_async, True), ("01.offload-chat", blocking_original, False),
        ("01.offload-chat", single_worker, False),
        ("01.cpu-executor", score, True), ("01.cpu-executor", score_in_a_thread, False),
        ("01.find-blocker", FixedService, True), ("01.find-blocker", IngestService, False),
    ]:
        result = await check(exercise_id, answer)
        assert result.passed == right, (exercise_id, answer.__name__, loaded_machine, result.message)
