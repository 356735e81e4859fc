"""The embedded server: lifecycle, isolation, no orphans, and clear errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import redis

from labkit.errors import RedisBinaryNotFound, RedisStartError
from labkit.redis.server import SERVER_ENV, EmbeddedRedis, find_server_binary, shared_server

from worker_procs import pid_alive as _alive
from worker_procs import wait_gone as _wait_gone

pytestmark = pytest.mark.redis


@pytest.fixture
def server():
    srv = EmbeddedRedis.start()
    yield srv
    srv.stop()


def test_server_answers_on_a_private_socket(server: EmbeddedRedis) -> None:
    assert server.running and _alive(server.server_pid)
    assert stat.S_IMODE(server.directory.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(server.socket_path.stat().st_mode)
    assert stat.S_IMODE(server.socket_path.stat().st_mode) & 0o077 == 0
    client = redis.Redis(unix_socket_path=str(server.socket_path))
    try:
        assert client.ping()
        config = client.config_get("port")
        assert config["port"] == "0", "no TCP port may be open"
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
    finally:
        client.close()


def test_stop_ends_server_and_removes_its_directory(server: EmbeddedRedis) -> None:
    pid, directory = server.server_pid, server.directory
    server.stop()
    assert _wait_gone(pid)
    assert not directory.exists()
    assert not server.running
    server.stop()  # twice is harmless


def test_shared_server_is_reused_within_a_process(redis_base) -> None:
    first = shared_server()
    assert shared_server() is first
    assert first.running


def test_binary_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    chosen = os.environ.get(SERVER_ENV, "")
    binary = find_server_binary()
    if chosen == "bundled":
        assert "site-packages" in str(binary)
    elif chosen:
        assert binary == Path(chosen)
    server = shared_server()
    assert server.binary == binary


def test_missing_binary_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SERVER_ENV, raising=False)
    with pytest.raises(RedisBinaryNotFound, match="Install one of"):
        find_server_binary(search_path=str(tmp_path), packages=())
    monkeypatch.setenv(SERVER_ENV, str(tmp_path / "no-such-server"))
    with pytest.raises(RedisBinaryNotFound, match="is not an executable file"):
        find_server_binary()


def test_failed_start_shows_the_log_tail() -> None:
    with pytest.raises(RedisStartError) as err:
        EmbeddedRedis.start(extra_args=("--maxmemory", "banana"))
    message = str(err.value)
    assert "failed to start" in message and "maxmemory" in message


def test_a_binary_that_is_not_a_server_fails_clearly() -> None:
    with pytest.raises(RedisStartError, match="exited during start-up"):
        EmbeddedRedis.start(Path("/bin/false"))


OWNER = textwrap.dedent(
    """
    import sys, time
    from labkit.redis.server import shared_server
    s = shared_server()
    s_client = __import__("redis").Redis(unix_socket_path=str(s.socket_path))
    s_client.set("owner", sys.argv[1])
    print(s.server_pid, s.guard.pid, s.directory, flush=True)
    time.sleep(120)
    """
)


def _start_owner(name: str) -> tuple[subprocess.Popen[str], int, int, str]:
    proc = subprocess.Popen([sys.executable, "-c", OWNER, name], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    server_pid, guard_pid, directory = proc.stdout.readline().split()
    return proc, int(server_pid), int(guard_pid), directory


def test_kill_9_of_the_owner_leaves_no_server() -> None:
    proc, server_pid, guard_pid, directory = _start_owner("a")
    assert _alive(server_pid) and Path(directory).is_dir()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _wait_gone(server_pid), "server outlived its owner"
    assert _wait_gone(guard_pid), "guardian outlived its owner"
    assert not Path(directory).exists(), "the guardian removes the socket directory the owner could not"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux only")
def test_kill_9_of_the_guardian_leaves_no_server() -> None:
    proc, server_pid, guard_pid, directory = _start_owner("b")
    try:
        os.kill(guard_pid, signal.SIGKILL)
        assert _wait_gone(server_pid)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(directory, ignore_errors=True)  # its guardian was killed: nobody else will


@pytest.mark.timeout(900)  # 20 server start-ups, each waited out; slow on a loaded machine (as the run's own timeout)
def test_owner_killed_at_any_moment_of_start_up_leaves_nothing() -> None:
    """Kill -9 the owner at 20 moments spread over a server's start-up: no directory, no process.

    ``benchmarks/startup_kills.py`` does the killing and counting (it also reports how long clean-up took).
    """
    script = Path(__file__).parents[1] / "benchmarks" / "startup_kills.py"
    run = subprocess.run([sys.executable, str(script), "20"], capture_output=True, text=True, timeout=900)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["kills"] == 20
    assert (result["left_dirs"], result["left_processes"]) == (0, 0), result


def test_an_unwritable_temp_dir_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    with pytest.raises(RedisStartError, match="could not make a directory in .*no-such-dir: is TMPDIR writable"):
        EmbeddedRedis.start()
