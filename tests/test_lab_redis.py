"""REDIS_URL mode and key prefixes: the lab touches only its own keys."""

from __future__ import annotations

import socket

import pytest

from labkit.errors import RedisUnreachable
from labkit.redis.target import RedisTarget, redis_target
from labkit.redis.server import EmbeddedRedis

pytestmark = pytest.mark.redis


@pytest.fixture
def foreign_server():
    """Someone else's server, with their keys on it."""
    srv = EmbeddedRedis.start()
    yield srv
    srv.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_redis_url_mode_leaves_foreign_keys_alone(foreign_server, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = RedisTarget(foreign_server.url, "", foreign_server).sync_client()
    foreign = {"their:data": "1", "arl:someone-else:doc:1": "2", "arl:root:x": "3"}
    owner.mset(foreign)

    monkeypatch.setenv("REDIS_URL", foreign_server.url)
    monkeypatch.delenv("LABKIT_PREFIX", raising=False)
    target = redis_target()
    assert not target.embedded and target.url == foreign_server.url
    assert target.prefix.startswith("arl:") and target.prefix not in ("arl:", "arl:root:")
    client = target.sync_client()
    client.set(target.key("doc", 1), "RUNNING")
    client.hset(target.key("task", 1), mapping={"state": "DONE"})
    assert target.own_keys() == sorted([target.key("doc", 1), target.key("task", 1)])

    assert target.cleanup() == 2
    assert target.own_keys() == []
    assert {k: owner.get(k) for k in foreign} == foreign
    stats = owner.info("commandstats")
    assert "cmdstat_flushdb" not in stats and "cmdstat_flushall" not in stats
    client.close()
    owner.close()


def test_prefix_with_glob_characters_is_matched_literally(foreign_server) -> None:
    target = RedisTarget(foreign_server.url, "lab[1]*:", foreign_server)
    client = target.sync_client()
    client.set("lab1x:other", "keep")
    client.set(target.key("mine"), "drop")
    assert target.cleanup() == 1
    assert client.get("lab1x:other") == "keep"
    client.close()


def test_each_call_gets_its_own_prefix_unless_told(monkeypatch: pytest.MonkeyPatch, redis_base) -> None:
    monkeypatch.delenv("LABKIT_PREFIX", raising=False)
    assert redis_target().prefix != redis_target().prefix
    monkeypatch.setenv("LABKIT_PREFIX", "class:alice:")
    assert redis_target().prefix == "class:alice:"


def test_env_hands_the_same_server_and_prefix_to_a_child(lab) -> None:
    env = lab.env()
    assert env == {"REDIS_URL": lab.url, "LABKIT_PREFIX": lab.prefix}


async def test_async_client_round_trip(lab) -> None:
    client = lab.async_client()
    await client.set(lab.key("greeting"), "hello")
    assert await client.get(lab.key("greeting")) == "hello"
    await client.aclose()


def test_unreachable_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"redis://127.0.0.1:{_free_port()}/0"
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(RedisUnreachable, match="Cannot reach the Redis server") as err:
        redis_target()
    assert url in str(err.value) and "unset REDIS_URL" in str(err.value)


def test_malformed_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "http://example.invalid")
    with pytest.raises(RedisUnreachable, match="not a valid Redis URL"):
        redis_target()


def test_bad_key_and_prefix_input(lab) -> None:
    with pytest.raises(ValueError, match="at least one part"):
        lab.key()
    with pytest.raises(ValueError, match="non-empty word"):
        lab.child("has space")


async def test_patient_client_rides_out_a_restart_and_a_plain_one_does_not() -> None:
    import asyncio

    import redis as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    server = EmbeddedRedis.start(extra_args=("--appendonly", "yes", "--appendfsync", "always"))
    target = RedisTarget(server.url, "p:", server)
    patient = target.async_client(patient=True)
    plain = target.async_client(retry=Retry(NoBackoff(), 0))  # redis-py's own default retries a little
    try:
        await patient.set("p:k", "v")
        restarting = asyncio.create_task(asyncio.to_thread(server.restart))
        plain_errors = 0

        async def patient_reads() -> None:
            while not restarting.done():
                assert await patient.get("p:k") == "v"  # never raises: retried until the server is back
                await asyncio.sleep(0.002)

        async def plain_reads() -> None:
            nonlocal plain_errors
            while not restarting.done():
                try:
                    await plain.get("p:k")
                except redis_errors.ConnectionError:
                    plain_errors += 1
                await asyncio.sleep(0.002)

        await asyncio.gather(patient_reads(), plain_reads(), restarting)
        assert plain_errors > 0, "the restart window was never hit; the test proved nothing"
    finally:
        await patient.aclose()
        await plain.aclose()
        server.stop()
