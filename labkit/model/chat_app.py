"""The local model server: an OpenAI-compatible ``/v1/chat/completions`` as a tiny ASGI app.

It answers exactly what the stand-in model answers (:func:`labkit.model.llm.reply_for`),
after the latency each request asks for (``"latency_s"`` in the body; the SDKs send it
with ``extra_body={"latency_s": 0.3}``), as one JSON reply or, with ``"stream": true``,
as server-sent events. Waiting is ``asyncio.sleep``, so one server process answers
any number of overlapping requests without threads.

Run as ``python -m labkit.model.chat_app`` by :mod:`labkit.model.endpoint`, which
owns its life: the process binds a free loopback port, prints it, and serves until
its standard input closes (the parent stopped it, or died, even by ``kill -9``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import socket
import sys
import threading
from collections import Counter
from typing import Any, Awaitable, Callable

from . import llm

KEY_ENV = "LABKIT_MODEL_KEY"
DEFAULT_LATENCY_S = llm.DEFAULT_LATENCY_S

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BadRequest(Exception):
    """A request the server refuses, with the HTTP status and a message saying how to fix it."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


# --------------------------------------------------------------------------- requests -> replies


def parse_request(body: bytes) -> tuple[str, list[dict[str, str]], dict[str, Any], bool]:
    """Read a chat-completions body into (system_msg, history, conf, stream), or raise BadRequest."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise BadRequest(400, "the request body is not JSON; send {'model': ..., 'messages': [...]}") from None
    if not isinstance(data, dict):
        raise BadRequest(400, "the request body must be a JSON object with 'model' and 'messages'")
    messages = data.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "'messages' must be a non-empty list like [{'role': 'user', 'content': 'hi'}]")
    system_parts: list[str] = []
    history: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise BadRequest(400, f"messages[{i}] must be an object with a string 'content', got {message!r:.80}")
        role = str(message.get("role", "user"))
        if role in ("system", "developer"):
            system_parts.append(message["content"])
        else:
            history.append({"role": role, "content": message["content"]})
    latency = data.get("latency_s", DEFAULT_LATENCY_S)
    if isinstance(latency, bool) or not isinstance(latency, (int, float)) or not math.isfinite(latency):
        raise BadRequest(400, f"'latency_s' must be a number of seconds, got {latency!r}; send e.g. 0.3")
    conf = {"latency_s": latency, "model": data.get("model", llm.DEFAULT_MODEL)}
    try:
        llm.reply_for("\n".join(system_parts), history, conf)  # validates conf and history
    except (TypeError, ValueError) as exc:
        raise BadRequest(400, str(exc)) from None
    return "\n".join(system_parts), history, conf, bool(data.get("stream", False))


def _completion_id(reply: str) -> str:
    return "chatcmpl-" + hashlib.sha256(reply.encode()).hexdigest()[:16]


def completion(reply: str, model: str, prompt_chars: int) -> dict[str, Any]:
    """A ``chat.completion`` object, as the OpenAI API returns it."""
    return {
        "id": _completion_id(reply),
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(reply.split()),
                  "total_tokens": prompt_chars // 4 + len(reply.split())},
    }


def chunks(reply: str, model: str) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a streamed reply: one per word, then a stop."""
    words = reply.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    base = {"id": _completion_id(reply), "object": "chat.completion.chunk", "created": 0, "model": model}
    events = [
        {**base, "choices": [{"index": 0, "delta": ({"role": "assistant", "content": p} if i == 0 else {"content": p}),
                              "finish_reason": None}]}
        for i, p in enumerate(pieces)
    ]
    events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return events


# --------------------------------------------------------------------------- the ASGI app


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def _send_json(send: Send, status: int, payload: dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


SERVED_PATH = "/v1/labkit/served/"


def make_app(api_key: str) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI app: ``POST /v1/chat/completions`` and ``GET /v1/models``, for callers holding ``api_key``;
    and ``GET /v1/labkit/served/<completion id>``, how many times that reply was sent in full (exercise
    checks ask it, to tell a reply the model gave from one made up with ``llm.reply_for``)."""
    expected = f"Bearer {api_key}".encode()
    answered: Counter[str] = Counter()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            headers = dict(scope.get("headers", []))
            if headers.get(b"authorization") != expected:
                raise BadRequest(401, "wrong or missing API key: use the endpoint's api_key "
                                      "(labkit.model_endpoint().api_key)", "authentication_error")
            path, method = scope["path"].rstrip("/"), scope["method"]
            if path == "/v1/models" and method == "GET":
                await _send_json(send, 200, {"object": "list", "data": [
                    {"id": llm.DEFAULT_MODEL, "object": "model", "created": 0, "owned_by": "labkit"}]})
                return
            if path.startswith(SERVED_PATH.rstrip("/")) and method == "GET":
                await _send_json(send, 200, {"served": answered[path.removeprefix(SERVED_PATH)]})
                return
            if path != "/v1/chat/completions":
                raise BadRequest(404, f"no route {method} {scope['path']}; this server has POST /v1/chat/completions")
            if method != "POST":
                raise BadRequest(405, f"{method} is not allowed on /v1/chat/completions; use POST")
            system_msg, history, conf, stream = parse_request(await _read_body(receive))
        except BadRequest as exc:
            await _send_json(send, exc.status, {"error": {"message": exc.message, "type": exc.kind}})
            return
        reply = llm.reply_for(system_msg, history, conf)
        prompt_chars = len(system_msg) + sum(len(m["content"]) for m in history)
        if not stream:
            await asyncio.sleep(conf["latency_s"])
            await _send_json(send, 200, completion(reply, conf["model"], prompt_chars))
            answered[_completion_id(reply)] += 1
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        events = chunks(reply, conf["model"])
        pause = conf["latency_s"] / max(1, len(events) - 1)  # the words arrive spread over the latency
        for i, event in enumerate(events):
            if i < len(events) - 1:
                await asyncio.sleep(pause)
            await send({"type": "http.response.body", "body": f"data: {json.dumps(event)}\n\n".encode(),
                        "more_body": True})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        answered[_completion_id(reply)] += 1

    return app


# --------------------------------------------------------------------------- the server process


def serve() -> int:
    """Bind a free loopback port, print it, and serve until standard input reaches end-of-file."""
    import uvicorn

    api_key = os.environ.get(KEY_ENV, "")
    if not api_key:
        print(f"{KEY_ENV} is not set: the server needs the key its callers will use", file=sys.stderr)
        return 2
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this: a reply's headers and body go out at once, instead of the body
    # waiting ~40 ms for the client's delayed ACK on every request after a connection's first.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(make_app(api_key), log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)

    def stop_at_eof() -> None:
        while sys.stdin.buffer.read(4096):
            pass
        server.should_exit = True

    threading.Thread(target=stop_at_eof, daemon=True).start()
    print(sock.getsockname()[1], flush=True)
    asyncio.run(server.serve(sockets=[sock]))
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
