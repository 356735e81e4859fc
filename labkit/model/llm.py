"""A stand-in LLM client: the blocking ``chat()`` behind rule 1, without a network.

Three ways to "call the model", all giving the same deterministic reply for the
same input and taking ``conf["latency_s"]`` seconds (default 0.2):

- :func:`chat` blocks like a network call (``time.sleep``: releases the GIL,
  so a thread can run it beside the loop);
- :func:`chat_cpu` burns the time in pure Python (holds the GIL, like parsing
  or tokenising a large reply): threads do not help, a process does;
- :func:`achat` is an async client: it awaits, so the loop stays free.

:class:`ChatModel` and :class:`AsyncChatModel` wrap the same calls in the
``model.chat(system_msg, history, conf)`` shape real clients have.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_LATENCY_S = 0.2
MAX_LATENCY_S = 120.0
DEFAULT_MODEL = "stand-in-1"
CONF_KEYS = ("latency_s", "model", "temperature")
WORKS = ("io", "cpu")

__all__ = ["chat", "chat_cpu", "achat", "reply_for", "served", "ChatModel", "AsyncChatModel", "DEFAULT_LATENCY_S"]

History = Sequence["str | Mapping[str, Any]"]


# --------------------------------------------------------------------------- validation


def _check_system_msg(system_msg: object) -> str:
    if not isinstance(system_msg, str):
        raise TypeError(
            f"system_msg must be a str, got {type(system_msg).__name__}; "
            "pass the system prompt as text, e.g. 'You are a careful assistant.'"
        )
    return system_msg


def _check_history(history: object) -> list[str]:
    if isinstance(history, (str, bytes)) or not isinstance(history, Sequence):
        raise TypeError(
            f"history must be a list of messages, got {type(history).__name__}; "
            "pass e.g. [{'role': 'user', 'content': 'hi'}] or ['hi'] (use [] for no history)"
        )
    texts: list[str] = []
    for i, message in enumerate(history):
        if isinstance(message, str):
            texts.append(message)
        elif isinstance(message, Mapping) and isinstance(message.get("content"), str):
            role = message.get("role", "user")
            # A user message reads the same as a plain str, so the SDK path and llm.chat agree.
            texts.append(message["content"] if role == "user" else f"{role}: {message['content']}")
        else:
            raise TypeError(
                f"history[{i}] must be a str or a dict with a str 'content', got {message!r}; "
                "write messages like {'role': 'user', 'content': 'hi'}"
            )
    return texts


def _check_conf(conf: object) -> tuple[float, str]:
    """Validate ``conf`` and return (latency in seconds, model name)."""
    if conf is None:
        return DEFAULT_LATENCY_S, DEFAULT_MODEL
    if not isinstance(conf, Mapping):
        raise TypeError(
            f"conf must be a dict (or None), got {type(conf).__name__}; pass e.g. {{'latency_s': 0.2}}"
        )
    unknown = sorted(str(k) for k in conf if k not in CONF_KEYS)
    if unknown:
        raise ValueError(f"conf has unknown key(s) {unknown}; the stand-in model understands {list(CONF_KEYS)}")
    latency = conf.get("latency_s", DEFAULT_LATENCY_S)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)):
        raise TypeError(
            f"conf['latency_s'] must be a number of seconds, got {type(latency).__name__} {latency!r}; "
            "pass e.g. 0.2"
        )
    if not math.isfinite(latency) or latency < 0:
        raise ValueError(f"conf['latency_s'] must be 0 or more seconds, got {latency!r}; pass e.g. 0.2")
    if latency > MAX_LATENCY_S:
        raise ValueError(
            f"conf['latency_s'] is {latency!r} seconds, more than the {MAX_LATENCY_S:g} s limit; "
            f"did you mean {latency / 1000:g} (seconds, not milliseconds)?"
        )
    model = conf.get("model", DEFAULT_MODEL)
    if not isinstance(model, str):
        raise TypeError(f"conf['model'] must be a str, got {type(model).__name__}; pass e.g. 'stand-in-1'")
    temperature = conf.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"conf['temperature'] must be a number, got {temperature!r}; pass e.g. 0.0")
    return float(latency), model


def _check_work(work: object) -> str:
    if work not in WORKS:
        raise ValueError(f"work must be 'io' (waits like a network call) or 'cpu' (burns CPU), got {work!r}")
    return str(work)


# --------------------------------------------------------------------------- the calls


def reply_for(system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
    """The reply every variant returns for this input (deterministic; returns at once)."""
    texts = _check_history(history)
    _, model = _check_conf(conf)
    blob = json.dumps([_check_system_msg(system_msg), texts, model]).encode()
    digest = hashlib.sha256(blob).hexdigest()[:10]
    last = texts[-1] if texts else "(no messages)"
    if len(last) > 40:
        last = last[:37] + "..."
    return f"[{model} #{digest}] answer to {last!r}"


_served: Counter[tuple[str, str]] = Counter()
_served_lock = threading.Lock()


def _answered(work: str, reply: str) -> str:
    with _served_lock:
        _served[work, reply] += 1
    return reply


def served(system_msg: str, history: History, conf: Mapping[str, Any] | None = None, work: str = "any") -> int:
    """How many times the model answered this request *in this process* (``work``: "io" for chat/achat,
    "cpu" for chat_cpu, or "any"). A reply computed with :func:`reply_for` is not an answer: exercise
    checks use this to see that the learner's code really asked the model."""
    reply = reply_for(system_msg, history, conf)
    with _served_lock:
        return sum(n for (w, r), n in _served.items() if r == reply and work in ("any", w))


def chat(system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
    """Blocking call: waits ``conf['latency_s']`` like a network round trip, then replies."""
    reply = reply_for(system_msg, history, conf)
    latency, _ = _check_conf(conf)
    time.sleep(latency)  # a real client would be blocked in socket.recv here
    return _answered("io", reply)


def burn_cpu(seconds: float) -> int:
    """Spin in pure Python for ``seconds`` of this thread's CPU time, holding the GIL.

    CPU time, not wall time: a fixed amount of work, so threads that share the
    GIL take turns and finish later, as real CPU-bound work does.
    """
    deadline = time.thread_time() + seconds
    acc = 0
    while time.thread_time() < deadline:
        for i in range(2000):
            acc = (acc * 31 + i) % 1_000_003
    return acc


def chat_cpu(system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
    """CPU-bound call: computes for ``conf['latency_s']`` in pure Python, then replies."""
    reply = reply_for(system_msg, history, conf)
    latency, _ = _check_conf(conf)
    burn_cpu(latency)
    return _answered("cpu", reply)


async def achat(system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
    """Async client: awaits ``conf['latency_s']`` without holding the loop, then replies."""
    reply = reply_for(system_msg, history, conf)
    latency, _ = _check_conf(conf)
    await asyncio.sleep(latency)
    return _answered("io", reply)


# --------------------------------------------------------------------------- client objects


class ChatModel:
    """A sync client object: ``ChatModel().chat(system_msg, history, conf)`` blocks its caller.

    ``work="cpu"`` makes each call burn CPU instead of waiting on I/O.
    """

    def __init__(self, work: str = "io") -> None:
        self.work = _check_work(work)

    def chat(self, system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
        fn = chat if self.work == "io" else chat_cpu
        return fn(system_msg, history, conf)

    def __repr__(self) -> str:
        return f"ChatModel(work={self.work!r})"


class AsyncChatModel:
    """An async client object: ``await AsyncChatModel().chat(...)``.

    With ``work="io"`` it waits without holding the loop. With ``work="cpu"``
    the computing still happens *on the loop* (async does not make CPU work
    free): it stalls just like the blocking call.
    """

    def __init__(self, work: str = "io") -> None:
        self.work = _check_work(work)

    async def chat(self, system_msg: str, history: History, conf: Mapping[str, Any] | None = None) -> str:
        if self.work == "io":
            return await achat(system_msg, history, conf)
        reply = reply_for(system_msg, history, conf)
        latency, _ = _check_conf(conf)
        await asyncio.sleep(0)
        burn_cpu(latency)  # e.g. decoding a big streamed reply in Python, on the loop
        return _answered("cpu", reply)

    def __repr__(self) -> str:
        return f"AsyncChatModel(work={self.work!r})"
