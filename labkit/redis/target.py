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
from urllib.parse import urlsplit, urlunsplit

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

    def __repr__(self) -> str:
        return f"RedisTarget(url={masked(self.url)!r}, prefix={self.prefix!r})"

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


def masked(url: str) -> str:
    """``url`` with any password replaced by ``***``, for every message that echoes it."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _bad_url(url: str, why: str) -> RedisUnreachable:
    return RedisUnreachable(
        f"{URL_ENV}={masked(url)!r} is not a valid Redis URL ({why}). "
        "Use redis://[:PASSWORD@]host:port/DB (DB a number, 0 unless told otherwise), rediss://... "
        "or unix:///path/to/socket, or unset it to let the lab start its own server."
    )


def _client_for(url: str) -> redis.Redis:
    """A client for ``url``, refusing what redis-py would silently read as something else."""
    parts = urlsplit(url)
    db_path = parts.path.strip("/") if parts.scheme in ("redis", "rediss") else ""
    if db_path and not db_path.isdigit():
        raise _bad_url(url, f"the database after the last '/' must be a number, got {db_path!r}")
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:
        raise _bad_url(url, str(exc).rstrip(".")) from None


def check_reachable(url: str) -> None:
    """PING the server at ``url`` once; any failure becomes one line saying what to change."""
    client = _client_for(url)
    shown = f"{URL_ENV}={masked(url)!r}"
    not_redis = (f"The listener at {shown} does not answer like a Redis server ({{}}). "
                 "Point REDIS_URL at a Redis (its port is usually 6379), or unset it.")
    try:
        client.ping()
    except redis.AuthenticationError as exc:  # before ConnectionError: it is one
        if urlsplit(url).password is None:
            raise RedisUnreachable(
                f"The server at {shown} requires a password. "
                "Put it in the URL: redis://:PASSWORD@host:port/0 (or USER:PASSWORD@ with ACLs)."
            ) from None
        raise RedisUnreachable(
            f"The server at {shown} refused our credentials ({str(exc).rstrip('.')}). "
            "Put the right password in the URL: redis://:PASSWORD@host:port/0 (or USER:PASSWORD@ with ACLs)."
        ) from None
    except redis.ResponseError as exc:
        if "DB index" in str(exc) or "invalid DB" in str(exc):
            raise RedisUnreachable(
                f"The server at {shown} has no database {client.get_connection_kwargs().get('db')} ({exc}). "
                "Pick one it has, usually /0: redis://host:port/0."
            ) from None
        raise RedisUnreachable(f"The server at {shown} refused the lab's first command: {exc}.") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        why = str(exc).rstrip(".") or type(exc).__name__
        if "closed by server" in why:  # it accepted, read our command and hung up: an HTTP server, say
            raise RedisUnreachable(not_redis.format(why)) from None
        raise RedisUnreachable(
            f"Cannot reach the Redis server at {shown}: {why}. "
            "Check that it is running and the URL is right, or unset REDIS_URL "
            "to let the lab start its own private server."
        ) from None
    except redis.RedisError as exc:  # a reply that is not RESP
        raise RedisUnreachable(not_redis.format(f"it answered: {exc}")) from None
    finally:
        client.close()


_url_checked: set[str] = set()


def namespace(prefix: str) -> str:
    """``prefix`` as a key namespace: it always ends in ``:``, so ``team1`` never covers ``team10:``."""
    if not prefix or prefix.strip(":") == "" or any(c.isspace() for c in prefix):
        raise ValueError(f"a key prefix must be a word such as 'team1' or 'arl:alice:', got {prefix!r}")
    return prefix if prefix.endswith(":") else prefix + ":"


def redis_target(prefix: str | None = None, *, check: bool = True) -> RedisTarget:
    """The lab's Redis for this process: ``REDIS_URL`` if set, else a private server.

    ``prefix`` overrides the key prefix (``LABKIT_PREFIX`` also does); by default
    each process gets a fresh one, so several learners can share one server. A
    prefix is a namespace: ``team1`` becomes ``team1:``. ``check=False`` skips the
    one-shot PING of ``REDIS_URL``, for a service that first reaches the server
    through a patient client (a worker started while Redis restarts).
    """
    prefix = namespace(prefix or os.environ.get(PREFIX_ENV) or _default_prefix())
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        if check and url not in _url_checked:
            check_reachable(url)
            _url_checked.add(url)
        elif not check:
            _client_for(url).close()  # a malformed URL is still an error at once
        return RedisTarget(url, prefix)
    server = shared_server()
    return RedisTarget(server.url, prefix, server)
