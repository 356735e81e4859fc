"""The model call through the real ``openai`` SDK, sync and async, as the lab's worker processes make it.

``openai_chat`` is ``OpenAI(...).chat.completions.create(...)``, the sync client
production code calls (the rule-4 bug when made on an event loop);
``openai_achat`` awaits the same call on ``AsyncOpenAI``. Both talk to the lab's
local endpoint (:mod:`labkit.model.endpoint`), which a worker finds through the
environment its parent gave it.

The SDK takes most of a second to import, and its first client and first call
cost tens of milliseconds more (modules it loads on first use). A worker pays for
all of it before it says it is ready: the import and those modules in the fork
server that starts workers (:mod:`labkit.tasks.procs`), its own clients in
:func:`prepare`. None of it may land on a loop whose heartbeat is being watched.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import openai

from . import llm
from .endpoint import PerLoopClient, ask, model_endpoint

_lock = threading.Lock()
_clients: dict[str, Any] = {}  # one sync client and one per-loop async client for this process


def _client(kind: str) -> Any:
    with _lock:
        if kind not in _clients:
            endpoint = model_endpoint()
            _clients[kind] = endpoint.client() if kind == "sync" else endpoint.async_client()
        return _clients[kind]


def _load_lazy_parts() -> None:
    """Load what the SDK loads on a client's first use; it sends nothing (no request is made)."""
    for make in (openai.OpenAI, openai.AsyncOpenAI):
        make(base_url="http://127.0.0.1:9/v1", api_key="unused").chat.completions  # noqa: B018


_load_lazy_parts()


def prepare() -> None:
    """Make this process's clients now, the async one for the running loop (a worker, before it is ready)."""
    _client("sync")
    _client("async").for_loop()


def _content(response: Any) -> str:
    return str(response.choices[0].message.content or "")


def openai_chat(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None = None) -> str:
    """The model's reply through the sync ``OpenAI`` client: blocks the calling thread until it comes."""
    return _content(_client("sync").chat.completions.create(**ask(system_msg, history, conf)))


async def openai_achat(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None = None) -> str:
    """The model's reply through ``AsyncOpenAI``: awaits it, so the event loop keeps running."""
    client: PerLoopClient = _client("async")
    return _content(await client.chat.completions.create(**ask(system_msg, history, conf)))
