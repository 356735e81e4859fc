"""The local OpenAI-compatible endpoint, driven by the real openai SDK and httpx."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from labkit.model import llm
from labkit.model.chat_app import KEY_ENV
from labkit.model.endpoint import URL_ENV, ModelEndpoint, ask
from worker_procs import pid_alive, wait_gone

ROOT = Path(__file__).resolve().parent.parent
HISTORY = [{"role": "user", "content": "what is a stall?"}]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[ModelEndpoint]:
    ep = ModelEndpoint.start()
    yield ep
    ep.stop()


def test_listens_on_loopback_only(endpoint: ModelEndpoint) -> None:
    assert httpx.URL(endpoint.base_url).host == "127.0.0.1"
    assert endpoint.api_key not in (os.environ.get("OPENAI_API_KEY"), "")


def test_sync_sdk_gets_the_stand_in_reply(endpoint: ModelEndpoint) -> None:
    conf = {"latency_s": 0.05}
    response = endpoint.client().chat.completions.create(**ask("Be terse.", HISTORY, conf))
    assert response.choices[0].message.content == llm.reply_for("Be terse.", HISTORY, conf)
    assert response.choices[0].finish_reason == "stop"


def test_a_streamed_reply_is_the_same_text_in_pieces(endpoint: ModelEndpoint) -> None:
    conf = {"latency_s": 0.05}
    stream = endpoint.client().chat.completions.create(**ask("Be terse.", HISTORY, conf), stream=True)
    pieces = [chunk.choices[0].delta.content for chunk in stream if chunk.choices[0].delta.content]
    assert len(pieces) > 1
    assert "".join(pieces) == llm.reply_for("Be terse.", HISTORY, conf)


def test_latency_is_chosen_per_request(endpoint: ModelEndpoint) -> None:
    client = endpoint.client()

    def timed(latency: float) -> float:
        began = time.perf_counter()
        client.chat.completions.create(**ask("s", ["q"], {"latency_s": latency}))
        return time.perf_counter() - began

    short, long = timed(0.02), timed(0.4)
    assert long > short + 0.3


async def test_the_async_sdk_overlaps_requests(endpoint: ModelEndpoint) -> None:
    client = endpoint.async_client()
    began = time.perf_counter()
    replies = await asyncio.gather(*(client.chat.completions.create(**ask("s", [f"q{i}"], {"latency_s": 0.3}))
                                     for i in range(8)))
    together = time.perf_counter() - began
    await client.close()
    assert [r.choices[0].message.content for r in replies] == [
        llm.reply_for("s", [{"role": "user", "content": f"q{i}"}], {"latency_s": 0.3}) for i in range(8)]
    assert together < 8 * 0.3 / 2, "eight overlapping requests must take far less than eight in turn"


def test_httpx_reaches_it_and_bad_input_is_explained(endpoint: ModelEndpoint) -> None:
    with httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers) as http:
        ok = http.post("/chat/completions", json={"messages": [{"role": "user", "content": "x"}], "latency_s": 0})
        assert ok.status_code == 200 and ok.json()["object"] == "chat.completion"
        bad = http.post("/chat/completions", json={"messages": "x"})
        assert bad.status_code == 400 and "'messages' must be a non-empty list" in bad.json()["error"]["message"]
        slow = http.post("/chat/completions", json={"messages": [{"content": "x"}], "latency_s": "fast"})
        assert slow.status_code == 400 and "latency_s" in slow.json()["error"]["message"]
    assert httpx.post(endpoint.base_url + "/chat/completions", json={}).status_code == 401


def test_the_sdk_raises_on_a_wrong_key(endpoint: ModelEndpoint) -> None:
    client = openai.OpenAI(base_url=endpoint.base_url, api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(**ask("s", ["q"], {"latency_s": 0}))


def test_ask_rejects_bad_conf_with_the_stand_in_message() -> None:
    with pytest.raises(ValueError, match="seconds, not milliseconds"):
        ask("s", ["q"], {"latency_s": 300})


def test_stop_leaves_no_process() -> None:
    ep = ModelEndpoint.start()
    pid = ep.pid
    assert pid and pid_alive(pid)
    ep.stop()
    ep.stop()
    assert wait_gone(pid, 2.0)
    assert not ep.running


def test_the_server_dies_with_an_owner_killed_by_sigkill() -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", "from labkit.model.endpoint import model_endpoint; import sys, time; "
                               "print(model_endpoint().pid, flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, env={**{k: v for k, v in os.environ.items() if k not in (URL_ENV, KEY_ENV)},
                                     "PYTHONPATH": str(ROOT)})
    assert owner.stdout is not None
    server_pid = int(owner.stdout.readline())
    assert pid_alive(server_pid)
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    owner.stdout.close()
    assert wait_gone(server_pid, 5.0), "the model server outlived the process that started it"


def test_the_async_client_is_one_per_event_loop_and_needs_one(endpoint: ModelEndpoint) -> None:
    client = endpoint.async_client()
    with pytest.raises(RuntimeError, match="inside async code"):
        client.chat

    async def which() -> tuple[object, object]:
        return client.for_loop(), client.for_loop()

    first, same = asyncio.run(which())
    other, _ = asyncio.run(which())
    assert first is same and other is not first  # one per loop, kept for that loop
    assert "loop(s)" in repr(client)
