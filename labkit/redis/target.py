"""Where the lab's Redis lives, and clients for it.

``redis_target()`` answers one question for every notebook, test and worker
process: which real server do we talk to, and under which key prefix?

* ``REDIS_URL`` set: that server. Every key the lab writes sits under a prefix
  that is unique to this lab session, and cleanup deletes only those keys; the
  lab never runs FLUSHDB or FLUSHALL on a server it does not own.
* otherwise: this process's private embedded server (``redis_server``).
"""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import dataclass

import redis
import redis.asyncio as aredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry as SyncRetry

from ..errors import RedisUnreachable
from .server import EmbeddedRedis, shared_server

URL_ENV = "REDIS_URL"
PREFIX_ENV = "LABKIT_PREFIX"
PATIENT_RETRIES = 40  # with a 0.5 s backoff cap: about 15 s of retrying


@dataclass(frozen=True)
class RedisTarget:
    """A server URL plus the key prefix this lab session owns on it."""

    url: str
    prefix: str
    server: EmbeddedRedis | None = None

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def key(self, *parts: object) -> str:
        """A key under this session's prefix: ``key("doc", 7)`` -> ``<prefix>doc:7``."""
        if not parts:
            raise ValueError("key() needs at least one part, e.g. key('doc', 7)")
        return self.prefix + ":".join(str(p) for p in parts)

    def async_client(self, *, patient: bool = False, **kwargs: object) -> aredis.Redis:
        """A ``redis.asyncio`` client; the lab's default, it never blocks the loop.

        ``patient=True`` is for long-running services (workers, heartbeats): a
        command that cannot reach the server is retried with backoff for about
        15 s, so a Redis restart is ridden out instead of crashing the process.
        """
        kwargs.setdefault("decode_responses", True)
        if patient:
            kwargs.setdefault("retry", AsyncRetry(ExponentialBackoff(cap=0.5, base=0.02), PATIENT_RETRIES))
            kwargs.setdefault("retry_on_error", [redis.ConnectionError, redis.TimeoutError])
        return aredis.Redis.from_url(self.url, **kwargs)

    def sync_client(self, *, patient: bool = False, **kwargs: object) -> redis.Redis:
        """A blocking client, for sync code and for demos of what blocking costs (``patient`` as above)."""
        kwargs.setdefault("decode_responses", True)
        if patient:
            kwargs.setdefault("retry", SyncRetry(ExponentialBackoff(cap=0.5, base=0.02), PATIENT_RETRIES))
            kwargs.setdefault("retry_on_error", [redis.ConnectionError, redis.TimeoutError])
        return redis.Redis.from_url(self.url, **kwargs)

    def child(self, name: str) -> "RedisTarget":
        """The same server with a nested prefix, e.g. one per test or per demo run."""
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"child prefix name must be a non-empty word, got {name!r}")
        return RedisTarget(self.url, f"{self.prefix}{name}:", self.server)

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (a worker) to reach the same server and prefix."""
        return {URL_ENV: self.url, PREFIX_ENV: self.prefix}

    @property
    def pattern(self) -> str:
        """The SCAN/KEYS glob for exactly this session's keys (glob characters in the prefix escaped)."""
        return "".join("\\" + c if c in "*?[]\\" else c for c in self.prefix) + "*"

    def own_keys(self) -> list[str]:
        with self.sync_client() as client:
            return sorted(client.scan_iter(match=self.pattern, count=500))

    def cleanup(self) -> int:
        """Delete this session's keys (and only those); returns how many."""
        keys = self.own_keys()
        if keys:
            with self.sync_client() as client:
                for start in range(0, len(keys), 500):
                    client.unlink(*keys[start : start + 500])
        return len(keys)


def _default_prefix() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name on some containers
        user = "user"
    return f"arl:{user}:{uuid.uuid4().hex[:8]}:"


def _check_reachable(url: str) -> None:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:
        raise RedisUnreachable(
            f"{URL_ENV}={url!r} is not a valid Redis URL ({exc}). "
            "Use redis://host:port/db, rediss://... or unix:///path/to/socket, or unset it "
            "to let the lab start its own server."
        ) from None
    try:
        client.ping()
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise RedisUnreachable(
            f"Cannot reach the Redis server at {URL_ENV}={url!r}: {str(exc).rstrip('.')}. "
            "Check that it is running and the URL is right, or unset REDIS_URL "
            "to let the lab start its own private server."
        ) from None
    except redis.AuthenticationError as exc:
        raise RedisUnreachable(
            f"The server at {URL_ENV}={url!r} refused our credentials: {exc}. "
            "Put the password in the URL: redis://:PASSWORD@host:port/0."
        ) from None
    finally:
        client.close()


_url_checked: set[str] = set()


def redis_target(prefix: str | None = None) -> RedisTarget:
    """The lab's Redis for this process: ``REDIS_URL`` if set, else a private server.

    ``prefix`` overrides the key prefix (``LABKIT_PREFIX`` also does); by default
    each process gets a fresh one, so several learners can share one server.
    """
    prefix = prefix or os.environ.get(PREFIX_ENV) or _default_prefix()
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        if url not in _url_checked:
            _check_reachable(url)
            _url_checked.add(url)
        return RedisTarget(url, prefix)
    server = shared_server()
    return RedisTarget(server.url, prefix, server)
