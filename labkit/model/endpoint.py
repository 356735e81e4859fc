"""The lab's local model endpoint: a private OpenAI-compatible server, started like the lab's Redis.

``model_endpoint()`` starts :mod:`labkit.model.chat_app` once per process on a
free loopback port, with a random API key, so the real ``openai`` SDK and
``httpx`` can be pointed at it with no network and no account::

    ep = model_endpoint()
    client = openai.OpenAI(base_url=ep.base_url, api_key=ep.api_key)
    client.chat.completions.create(**ask("You are terse.", ["hi"], {"latency_s": 0.3}))

The server holds a pipe to this process and exits when the pipe closes: when
``stop()`` is called, at interpreter exit, or when this process dies in any way
(even ``kill -9``). Child processes (the lab's workers) inherit the address and
key through the environment and use the same server instead of starting their own.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LabError
from . import llm
from .chat_app import KEY_ENV

URL_ENV = "LABKIT_MODEL_URL"
_START_TIMEOUT_S = 15.0
_ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds labkit/


class ModelEndpointError(LabError):
    """The local model server could not be started."""


def ask(system_msg: str, history: llm.History, conf: Mapping[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """The keyword arguments of ``chat.completions.create`` for a ``(system_msg, history, conf)`` call.

    A str in ``history`` is sent as a user message, so the reply is
    ``llm.reply_for(system_msg, history, conf)`` with messages written as dicts;
    ``conf['latency_s']`` travels as ``extra_body`` (the SDKs' way to send extra fields).
    """
    llm.reply_for(system_msg, history, conf)  # the same validation and error messages as llm.chat
    latency, model = llm._check_conf(conf)
    messages = [{"role": "system", "content": system_msg}]
    for message in history:
        if isinstance(message, str):
            messages.append({"role": "user", "content": message})
        else:
            messages.append({"role": str(message.get("role", "user")), "content": message["content"]})
    return {"model": model, "messages": messages, "extra_body": {"latency_s": latency}, **extra}


@dataclass
class ModelEndpoint:
    """A running local model server (or one a parent process started); ``stop()`` ends it."""

    base_url: str
    api_key: str
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_in_s: float = 0.0
    _stopped: bool = field(default=False, repr=False)

    @property
    def running(self) -> bool:
        if self._stopped:
            return False
        return self.process is None or self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @classmethod
    def start(cls) -> "ModelEndpoint":
        """Start a server and wait until it listens."""
        began = time.perf_counter()
        api_key = "labkit-" + secrets.token_hex(16)
        env = dict(os.environ, **{KEY_ENV: api_key})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
        process = subprocess.Popen(
            [sys.executable, "-m", "labkit.model.chat_app"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, close_fds=True, start_new_session=True,
        )
        assert process.stdout is not None
        line = _readline_with_timeout(process.stdout, _START_TIMEOUT_S)
        if not line.strip().isdigit():
            process.kill()
            _, err = process.communicate(timeout=5)
            raise ModelEndpointError(
                f"The local model server did not start (it printed {line!r:.80}). Its error output:\n"
                f"{err.decode(errors='replace')[-1500:]}\nIs uvicorn installed? `pip install uvicorn`, "
                "or run `python -m labkit doctor`."
            )
        endpoint = cls(f"http://127.0.0.1:{int(line)}/v1", api_key, process, time.perf_counter() - began)
        threading.Thread(target=_drain, args=(process.stderr,), daemon=True).start()
        atexit.register(endpoint.stop)
        return endpoint

    def client(self, **options: Any) -> Any:
        """A sync ``openai.OpenAI`` client for this server (blocks its caller on every call)."""
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.api_key, **options)

    def async_client(self, **options: Any) -> Any:
        """An ``openai.AsyncOpenAI`` client for this server (awaits without holding the loop).

        It makes one real ``AsyncOpenAI`` per event loop that uses it: an async
        client's connections belong to one loop, and the lab's checks run your
        code on a loop of their own, beside the kernel's.
        """
        import openai

        return PerLoopClient(lambda: openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, **options))

    def served(self, reply: str) -> int:
        """How many times this server sent ``reply`` in full (blocking: one local round trip)."""
        import httpx

        from .chat_app import SERVED_PATH, _completion_id

        got = httpx.get(f"{self.base_url}{SERVED_PATH.removeprefix('/v1')}{_completion_id(reply)}",
                        headers=self.headers, timeout=5.0)
        got.raise_for_status()
        return int(got.json()["served"])

    @property
    def headers(self) -> dict[str, str]:
        """What a raw HTTP client (httpx, requests) sends to be let in."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def env(self) -> dict[str, str]:
        """Environment variables that point a child process at this server."""
        return {URL_ENV: self.base_url, KEY_ENV: self.api_key}

    def stop(self) -> None:
        """Stop the server (close its pipe, then wait); safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        if self.process is None:
            return
        try:
            if self.process.stdin:
                self.process.stdin.close()  # end-of-file tells the server to exit
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            for pipe in (self.process.stdout, self.process.stderr):
                if pipe:
                    pipe.close()


class PerLoopClient:
    """Stands for an async client; each event loop that uses it gets its own (made on first use)."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def for_loop(self) -> Any:
        """The client of the running loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("use the async client inside async code, where an event loop runs "
                               "(a notebook cell with top-level await, or an async def)") from None
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = self._clients[loop] = self._make()
            return client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.for_loop(), name)

    def __repr__(self) -> str:
        return f"<per-loop client: {len(self._clients)} loop(s) so far>"


def _drain(stream: Any) -> None:
    """Read the server's error output so a full pipe can never block it."""
    try:
        while stream.read(4096):
            pass
    except (OSError, ValueError):
        pass


def _readline_with_timeout(stream: Any, timeout: float) -> bytes:
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


_lock = threading.Lock()
_shared: ModelEndpoint | None = None


def model_endpoint() -> ModelEndpoint:
    """This process's model server: the one a parent process shared, or one started on first use.

    Starting one exports its address and key (``LABKIT_MODEL_URL``, ``LABKIT_MODEL_KEY``)
    so worker processes started afterwards reach the same server.
    """
    global _shared
    with _lock:
        if _shared is not None and _shared.running:
            return _shared
        url, key = os.environ.get(URL_ENV), os.environ.get(KEY_ENV)
        if url and key and (_shared is None or _shared.process is None):
            _shared = ModelEndpoint(url, key)
            return _shared
        _shared = ModelEndpoint.start()
        os.environ[URL_ENV], os.environ[KEY_ENV] = _shared.base_url, _shared.api_key
        return _shared


def running_endpoint() -> ModelEndpoint | None:
    """The model server this process already uses (started here, or shared by a parent), never a new one."""
    with _lock:
        if _shared is not None and (_shared.process is None or _shared.running):
            return _shared
    url, key = os.environ.get(URL_ENV), os.environ.get(KEY_ENV)
    return ModelEndpoint(url, key) if url and key else None
