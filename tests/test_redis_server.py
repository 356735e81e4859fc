"""The embedded server: lifecycle, isolation, no orphans, and clear errors."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import redis

from labkit.errors import RedisBinaryNotFound, RedisStartError
from labkit.redis.server import SERVER_ENV, EmbeddedRedis, find_server_binary, shared_server

pytestmark = pytest.mark.redis


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie has exited; it only waits for its parent to reap it.
    status = Path(f"/proc/{pid}/stat")
    if status.exists():
        return status.read_text().split(") ", 1)[1][0] != "Z"
    return True


def _wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


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


STARTER = textwrap.dedent(
    """
    import sys, time
    from labkit.redis.server import EmbeddedRedis
    print("go", flush=True)
    began = time.monotonic()
    EmbeddedRedis.start()
    print(time.monotonic() - began, flush=True)
    sys.stdin.read()
    """
)


def _lab_leftovers(root: Path) -> tuple[list[str], list[int]]:
    """Entries in ``root`` and live processes working in it or started on it (a guardian still starting up)."""
    entries = [p.name for p in root.iterdir()]
    inside = []
    for proc in psutil.process_iter(["pid", "cwd", "cmdline", "status"]):
        places = [proc.info["cwd"] or "", *(proc.info["cmdline"] or [])]
        if any(place.startswith(str(root)) for place in places) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            inside.append(proc.info["pid"])
    return entries, inside


def _starter(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(root)})


@pytest.fixture
def short_tmp():
    """An empty temp dir with a short path (a Unix socket path must stay under 108 bytes)."""
    root = Path(tempfile.mkdtemp(prefix="k-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_owner_killed_at_any_moment_of_start_up_leaves_nothing(short_tmp: Path) -> None:
    """Kill -9 the owner at 20 moments spread over a server's start-up: no directory, no process."""
    whole = _starter(short_tmp)
    assert whole.stdout is not None and whole.stdout.readline().strip() == "go"
    start_s = float(whole.stdout.readline())
    whole.communicate("")  # closing stdin ends it normally
    assert [p.name for p in short_tmp.iterdir()] == [], "a clean exit leaves nothing"
    for i in range(20):
        owner = _starter(short_tmp)
        assert owner.stdout is not None and owner.stdout.readline().strip() == "go"
        time.sleep(start_s * 1.2 * i / 19)  # from "just began" to "just finished"
        owner.kill()
        owner.wait()
        deadline = time.monotonic() + 30  # a generous bound for a loaded machine, not a timing claim
        while _lab_leftovers(short_tmp) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # a guardian forked but not yet exec'd shows up by now
        while _lab_leftovers(short_tmp) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _lab_leftovers(short_tmp) == ([], []), f"kill {i} at {start_s * 1.2 * i / 19:.3f} s left something"


def test_two_owners_get_separate_servers() -> None:
    first, pid_a, _, dir_a = _start_owner("first")
    second, pid_b, _, dir_b = _start_owner("second")
    try:
        assert pid_a != pid_b and dir_a != dir_b
        for directory, name in ((dir_a, "first"), (dir_b, "second")):
            client = redis.Redis(unix_socket_path=f"{directory}/redis.sock", decode_responses=True)
            assert client.get("owner") == name
            client.close()
    finally:
        for proc in (first, second):
            proc.terminate()
            proc.wait()
    assert _wait_gone(pid_a) and _wait_gone(pid_b)


def test_restart_keeps_socket_and_persisted_data() -> None:
    server = EmbeddedRedis.start(extra_args=("--appendonly", "yes", "--appendfsync", "always"))
    try:
        client = redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)
        client.set("survives", "yes")
        first = server.server_pid
        server.restart()
        assert _wait_gone(first) and server.server_pid != first
        assert client.get("survives") == "yes"  # same socket: the client just reconnects
        crashed = server.server_pid
        server.restart(crash=True)
        assert _wait_gone(crashed) and client.get("survives") == "yes"
        client.close()
    finally:
        server.stop()
    with pytest.raises(RedisStartError, match="needs a running server"):
        server.restart()


def test_an_unwritable_temp_dir_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-dir"))
    with pytest.raises(RedisStartError, match="could not make a directory in .*no-such-dir: is TMPDIR writable"):
        EmbeddedRedis.start()
