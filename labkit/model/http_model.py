"""The model call over plain HTTP (``httpx``), sync and async, for the lab's worker processes.

The worker makes one kind of call, so it skips the ``openai`` SDK, which takes
seconds to import (its many types), and posts to the same OpenAI-compatible
endpoint with ``httpx``, imported here at start-up so the first call does not
pay for it while a heartbeat waits. The sync call is the rule-4 bug when made on
the loop; the async one awaits.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Mapping
from typing import Any

import httpx

from . import llm
from .endpoint import ask, model_endpoint

_lock = threading.Lock()
_sync_client: httpx.Client | None = None
_async_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()


def _body(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None) -> dict[str, Any]:
    body = ask(system_msg, history, conf)
    body.update(body.pop("extra_body"))
    return body


def _reply_of(response: httpx.Response) -> str:
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


def http_chat(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None = None) -> str:
    """The model call over a sync ``httpx.Client``: blocks the calling thread until the reply."""
    global _sync_client
    with _lock:
        if _sync_client is None:
            endpoint = model_endpoint()
            _sync_client = httpx.Client(base_url=endpoint.base_url, headers=endpoint.headers, timeout=150,
                                        verify=False)
        client = _sync_client
    return _reply_of(client.post("/chat/completions", json=_body(system_msg, history, conf)))


async def http_achat(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None = None) -> str:
    """The model call over ``httpx.AsyncClient``: awaits the reply, so the loop keeps running."""
    loop = asyncio.get_running_loop()
    client = _async_clients.get(loop)  # one per loop: its connections belong to that loop
    if client is None:
        endpoint = model_endpoint()
        client = _async_clients[loop] = httpx.AsyncClient(base_url=endpoint.base_url, headers=endpoint.headers,
                                                          timeout=150, verify=False)
    return _reply_of(await client.post("/chat/completions", json=_body(system_msg, history, conf)))
