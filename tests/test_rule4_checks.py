"""Notebook 04's checks run real workers: every correct style passes, each mistake gets its hint."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from labkit import llm
from hint_asks import assert_idea_then_code
from labkit.exercises.framework import check, forget_hints
from labkit.model.sdk_model import openai_achat, openai_chat


@pytest.fixture(autouse=True)
def _plain_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)


# --------------------------------------------------------------------------- 04.offload-handler


async def with_to_thread(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat, system_msg, history, conf)


async def with_async_client(system_msg, history, conf):
    return await llm.achat(system_msg, history, conf)


async def with_executor(system_msg, history, conf):
    loop = asyncio.get_running_loop()
    reply = await loop.run_in_executor(None, llm.chat, system_msg, history, conf)
    return reply


async def blocking_original(system_msg, history, conf):
    return llm.chat(system_msg, history, conf)


async def with_sdk_to_thread(system_msg, history, conf):
    return await asyncio.to_thread(openai_chat, system_msg, history, conf)


async def with_async_sdk(system_msg, history, conf):
    return await openai_achat(system_msg, history, conf)


async def sync_sdk_on_the_loop(system_msg, history, conf):
    return openai_chat(system_msg, history, conf)


async def with_async_openai_by_hand(system_msg, history, conf):
    from openai import AsyncOpenAI

    from labkit import ask, model_endpoint

    endpoint = model_endpoint()  # in the worker: the server its parent shares
    async with AsyncOpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key) as client:
        response = await client.chat.completions.create(**ask(system_msg, history, conf))
    return response.choices[0].message.content


async def sync_openai_by_hand_on_the_loop(system_msg, history, conf):
    from openai import OpenAI

    from labkit import ask, model_endpoint

    endpoint = model_endpoint()
    with OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key) as client:
        response = client.chat.completions.create(**ask(system_msg, history, conf))
    return response.choices[0].message.content


async def skips_the_model(system_msg, history, conf):
    return "a made-up reply"


async def made_up_in_a_thread(system_msg, history, conf):
    # changes the problem: waits as long as the model would, in a thread, and computes its reply
    await asyncio.to_thread(time.sleep, conf["latency_s"])
    return llm.reply_for(system_msg, history, conf)


async def made_up_on_the_loop(system_msg, history, conf):
    await asyncio.sleep(conf["latency_s"])
    return llm.reply_for(system_msg, history, conf)


SOURCE_ANSWER = """
async def handle(system_msg, history, conf):
    return await asyncio.to_thread(llm.chat, system_msg, history, conf)
"""


@pytest.mark.parametrize("answer", [with_to_thread, with_async_client, with_executor, SOURCE_ANSWER,
                                    with_sdk_to_thread, with_async_sdk, with_async_openai_by_hand],
                         ids=["to_thread", "achat", "run_in_executor", "source-string",
                              "sdk-to_thread", "sdk-async", "AsyncOpenAI-by-hand"])
async def test_offload_handler_accepts(answer) -> None:
    result = await check("04.offload-handler", answer)
    assert result.passed, result.message


@pytest.mark.parametrize("answer, hint", [
    (blocking_original, "declared dead"),
    (sync_sdk_on_the_loop, "declared dead"),
    (sync_openai_by_hand_on_the_loop, "declared dead"),
    (skips_the_model, "model's reply"),
    (made_up_in_a_thread, "the model was never asked for it"),
    (made_up_on_the_loop, "the model was never asked for it"),
    (llm.chat, "async def"),
    (with_to_thread("s", [], None), "a call"),
])
async def test_offload_handler_rejects(answer, hint: str) -> None:
    forget_hints()
    result = await check("04.offload-handler", answer)
    assert not result.passed
    assert hint in result.message, result.message
    assert not any(call in result.message for call in SPELLED_OUT), result.message  # the idea first


# --------------------------------------------------------------------------- 04.heartbeat-thread


def thread_with_event(beat, interval_s):
    stop = threading.Event()

    def run():
        while not stop.is_set():
            beat()
            stop.wait(interval_s)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()

    def stop_it():
        stop.set()
        thread.join()

    return stop_it


class Beater(threading.Thread):
    def __init__(self, beat, interval_s):
        super().__init__(daemon=True)
        self.beat, self.interval_s, self.done = beat, interval_s, threading.Event()

    def run(self):
        while not self.done.wait(self.interval_s if self.beat() is None else 0):
            pass


def thread_subclass(beat, interval_s):
    beater = Beater(beat, interval_s)
    beater.start()
    return beater.done.set


def on_the_loop(beat, interval_s):
    async def beating():
        while True:
            beat()
            await asyncio.sleep(interval_s)

    task = asyncio.get_running_loop().create_task(beating())
    return task.cancel


def beats_once(beat, interval_s):
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    return thread.join


def never_stops(beat, interval_s):
    def run():
        while True:
            beat()
            time.sleep(interval_s)

    threading.Thread(target=run).start()  # not a daemon, and nothing ends it
    return lambda: None


def daemon_without_stop(beat, interval_s):
    # beats well, but its stop function stops nothing: only the process's exit would end it
    def run():
        while True:
            beat()
            time.sleep(interval_s)

    threading.Thread(target=run, daemon=True).start()
    return lambda: None


def beats_from_the_start_only(beat, interval_s):
    # changes the problem: beats a burst of beats up front instead of beating through the call
    for _ in range(3):
        beat()
    return lambda: None


@pytest.mark.parametrize("answer", [thread_with_event, thread_subclass], ids=["event", "thread-subclass"])
async def test_heartbeat_thread_accepts(answer) -> None:
    result = await check("04.heartbeat-thread", answer)
    assert result.passed, result.message


@pytest.mark.parametrize("answer, hint", [
    (on_the_loop, "declared dead"),
    (beats_once, "declared dead"),
    (never_stops, "did not exit"),
    (daemon_without_stop, "more time(s) while the worker was still shutting down"),
    (beats_from_the_start_only, "declared dead"),
])
async def test_heartbeat_thread_rejects(answer, hint: str) -> None:
    forget_hints()
    result = await check("04.heartbeat-thread", answer)
    assert not result.passed
    assert hint in result.message, result.message
    assert not any(call in result.message for call in SPELLED_OUT), result.message  # the idea first


async def test_verdicts_hold_on_a_loaded_machine(loaded_machine) -> None:
    """Correct answers still pass, and the blocking ones are still caught, when the CPUs are oversubscribed."""
    for exercise_id, answer, right in [
        ("04.offload-handler", with_to_thread, True), ("04.offload-handler", with_async_sdk, True),
        ("04.offload-handler", blocking_original, False),
        ("04.heartbeat-thread", thread_with_event, True), ("04.heartbeat-thread", on_the_loop, False),
    ]:
        result = await check(exercise_id, answer)
        assert result.passed == right, (exercise_id, answer.__name__, loaded_machine, result.message)


SPELLED_OUT = ("to_thread(", "openai_achat(", "stop.wait(", "threading.Thread(")


@pytest.mark.parametrize("exercise_id, answer, code", [
    ("04.offload-handler", sync_sdk_on_the_loop, "asyncio.to_thread(openai_chat, system_msg, history, conf)"),
    ("04.offload-handler", made_up_in_a_thread, "await openai_achat(system_msg, history, conf)"),
    ("04.heartbeat-thread", on_the_loop, "while not stop.wait(interval_s): beat()"),
])
async def test_a_hint_gives_the_idea_first_and_the_code_on_a_second_ask(exercise_id, answer, code) -> None:
    await assert_idea_then_code(exercise_id, answer, code, SPELLED_OUT)
