"""The stand-in LLM client: deterministic replies, real blocking, clear errors."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from labkit import llm

HISTORY = [{"role": "user", "content": "Summarise page 3"}]


def test_chat_blocks_for_its_latency_and_replies_deterministically() -> None:
    began = time.perf_counter()
    reply = llm.chat("sys", HISTORY, {"latency_s": 0.15})
    elapsed = time.perf_counter() - began
    assert 0.15 <= elapsed < 0.4
    assert reply == llm.reply_for("sys", HISTORY, {"latency_s": 0.15})
    assert reply == llm.chat("sys", HISTORY, {"latency_s": 0})
    assert reply != llm.chat("sys", [*HISTORY, "and page 4"], {"latency_s": 0})
    assert "Summarise page 3" in reply


def test_chat_cpu_burns_cpu_time_and_gives_the_same_reply() -> None:
    cpu_before = time.thread_time()
    reply = llm.chat_cpu("sys", HISTORY, {"latency_s": 0.1})
    assert time.thread_time() - cpu_before >= 0.1  # really computed, not slept
    assert reply == llm.chat("sys", HISTORY, {"latency_s": 0})


async def test_async_client_waits_without_holding_the_loop() -> None:
    began = time.perf_counter()
    replies = await asyncio.gather(*(llm.achat("sys", [f"q{i}"], {"latency_s": 0.2}) for i in range(4)))
    assert time.perf_counter() - began < 0.5  # four at once, not one after another
    assert replies == [llm.reply_for("sys", [f"q{i}"]) for i in range(4)]
    assert await llm.AsyncChatModel().chat("sys", HISTORY, {"latency_s": 0}) == llm.reply_for("sys", HISTORY)


def test_client_objects_and_default_conf() -> None:
    assert llm.ChatModel("cpu").chat("s", ["x"], {"latency_s": 0.01}) == llm.reply_for("s", ["x"])
    assert llm.reply_for("s", ["x"]) != llm.reply_for("s", ["x"], {"model": "other"})
    assert llm.DEFAULT_LATENCY_S > 0


def test_sync_calls_can_go_to_a_process_pool() -> None:
    assert pickle.loads(pickle.dumps(llm.chat_cpu)) is llm.chat_cpu


@pytest.mark.parametrize(
    ("args", "error", "words"),
    [
        ((42, [], None), TypeError, "system_msg"),
        (("s", "hello", None), TypeError, "history must be a list"),
        (("s", [3], None), TypeError, r"history\[0\]"),
        (("s", [{"role": "user"}], None), TypeError, "content"),
        (("s", [], [("latency_s", 1)]), TypeError, "conf must be a dict"),
        (("s", [], {"latency_s": -1}), ValueError, r"conf\['latency_s'\] must be 0 or more"),
        (("s", [], {"latency_s": "fast"}), TypeError, r"conf\['latency_s'\]"),
        (("s", [], {"latency_s": float("nan")}), ValueError, "latency_s"),
        (("s", [], {"latency_s": 300}), ValueError, "did you mean 0.3"),
        (("s", [], {"latency": 0.2}), ValueError, "unknown key"),
        (("s", [], {"model": 7}), TypeError, "model"),
    ],
)
def test_bad_input_names_the_argument_and_the_fix(args: tuple, error: type, words: str) -> None:
    for call in (llm.chat, llm.chat_cpu):
        with pytest.raises(error, match=words):
            call(*args)
    with pytest.raises(error, match=words):
        asyncio.run(llm.achat(*args))


def test_unknown_work_kind() -> None:
    with pytest.raises(ValueError, match="'io'"):
        llm.ChatModel("gpu")
    with pytest.raises(ValueError, match="'cpu'"):
        llm.AsyncChatModel("network")
