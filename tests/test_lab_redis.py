"""REDIS_URL mode and key prefixes: the lab touches only its own keys."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import redis

from labkit.errors import RedisUnreachable
from labkit.redis.target import RedisTarget, masked, redis_target
from labkit.redis.server import EmbeddedRedis, find_server_binary

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


SECRET = "s3cret-pw"


@pytest.fixture(scope="module")
def password_server():
    """A real redis-server on loopback that requires a password."""
    port = _free_port()
    server = subprocess.Popen(
        [str(find_server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--requirepass", SECRET,
         "--save", "", "--appendonly", "no", "--dir", tempfile.gettempdir()],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, password=SECRET)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.02)
    client.close()
    yield port
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def http_port():
    """A real HTTP server on loopback: it answers a Redis client with `HTTP/1.1 400`."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def raw_http_port():
    """A listener that replies `HTTP/1.1 400 Bad Request` and keeps the connection open."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            threading.Timer(5, conn.close).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


URL_CASES = {
    "db out of range": ("redis://:{secret}@127.0.0.1:{port}/99", "no database 99"),
    "db not a number": ("redis://:{secret}@127.0.0.1:{port}/notadb", "must be a number, got 'notadb'"),
    "wrong password": ("redis://:wrong-{secret}@127.0.0.1:{port}/0", "Put the right password in the URL"),
    "no password": ("redis://127.0.0.1:{port}/0", "requires a password. Put it in the URL"),
    "user and wrong password": ("redis://default:wrong-{secret}@127.0.0.1:{port}/0", "refused our credentials"),
    "an HTTP server": ("redis://:{secret}@127.0.0.1:{http}/0", "does not answer like a Redis server"),
    "an HTTP reply": ("redis://:{secret}@127.0.0.1:{raw}/0", "does not answer like a Redis server (it answered: Protocol Error"),
}


def _url(case: str, password_server: int, http_port: int, raw_http_port: int) -> tuple[str, str]:
    template, expected = URL_CASES[case]
    return template.format(secret=SECRET, port=password_server, http=http_port, raw=raw_http_port), expected


def _one_clear_line(message: str, expected: str) -> None:
    assert expected in message
    assert SECRET not in message, "the password must never be printed"
    assert len(message.strip().splitlines()) == 1


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_each_bad_redis_url_is_one_clear_line_in_a_notebook(
    case: str, password_server: int, http_port: int, raw_http_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, expected = _url(case, password_server, http_port, raw_http_port)
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(RedisUnreachable) as err:
        redis_target()
    _one_clear_line(str(err.value), expected)


@pytest.mark.parametrize("case", sorted(URL_CASES))
def test_each_bad_redis_url_is_one_clear_line_in_doctor_and_demo(
    case: str, password_server: int, http_port: int, raw_http_port: int
) -> None:
    url, expected = _url(case, password_server, http_port, raw_http_port)
    env = {**os.environ, "REDIS_URL": url}
    demo = subprocess.run([sys.executable, "-m", "labkit", "demo", "race"], capture_output=True, text=True,
                          env=env, timeout=60)
    assert demo.returncode == 2 and "Traceback" not in demo.stderr
    _one_clear_line(demo.stderr, expected)
    code = "from labkit.cli.doctor import check_redis; f = check_redis(); print(f.ok); print(f.detail)"
    doctor = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    ok, detail = doctor.stdout.split("\n", 1)
    assert ok == "False"
    _one_clear_line(detail, expected)


def test_the_right_password_in_the_url_works(password_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", f"redis://:{SECRET}@127.0.0.1:{password_server}/0")
    target = redis_target()
    assert SECRET not in repr(target)
    with target.sync_client() as client:
        assert client.ping()


def test_masked_hides_only_the_password() -> None:
    assert masked("redis://alice:pw@host:6379/0") == "redis://alice:***@host:6379/0"
    assert masked("rediss://:pw@host/1") == "rediss://:***@host/1"
    assert masked("unix:///tmp/x/redis.sock") == "unix:///tmp/x/redis.sock"


def test_a_bad_redis_url_in_a_notebook_cell_shows_one_line(password_server: int, monkeypatch: pytest.MonkeyPatch,
                                                          ipython_shell) -> None:
    from IPython.utils.capture import capture_output

    monkeypatch.setenv("REDIS_URL", f"redis://:wrong-{SECRET}@127.0.0.1:{password_server}/0")
    with capture_output() as shown:
        ipython_shell.run_cell("from labkit import redis_target\nredis_target()")
    text = (shown.stdout + shown.stderr).strip()
    assert text.startswith("RedisUnreachable: The server at REDIS_URL=") and "Traceback" not in text
    _one_clear_line(text, "Put the right password in the URL")
