"""`labkit reset`: reclaims what dead sessions left; spares live sessions, unrelated processes, other prefixes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from labkit.cli.reset import ResetReport, reset, reset_keys
from worker_procs import wait_gone
from labkit.redis.server import EmbeddedRedis, find_server_binary
from labkit.redis.target import RedisTarget, redis_target

pytestmark = pytest.mark.redis

# A lab session in a subprocess: its server, one real worker and an answer module,
# and a loop that keeps using the server until stdin closes.
SESSION = textwrap.dedent(
    """
    import asyncio, sys, threading
    from labkit.exercises.learner_code import LearnerModule
    from labkit.redis.target import RedisTarget
    from labkit.redis.server import EmbeddedRedis
    from labkit.tasks.procs import ProcessGroup

    server = EmbeddedRedis.start()
    target = RedisTarget(server.url, "live:", server)
    answer = LearnerModule("def f():\\n    return 1\\n", "f", "answer").__enter__()

    async def main():
        group = ProcessGroup(target)
        worker = await group.start("w1", "--mode", "offload")
        print(server.guard.pid, server.server_pid, worker.pid, server.directory, answer.dir, flush=True)
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(done.set)), daemon=True).start()
        client, errors, n = target.async_client(), 0, 0
        while not done.is_set():
            try:
                n = await client.incr("live:n")
            except Exception:
                errors += 1
            await asyncio.sleep(0.005)
        print(n, errors, worker.alive, flush=True)
        group.close()

    asyncio.run(main())
    answer.__exit__(None, None, None)
    server.stop()
    """
)


@pytest.fixture
def root():
    """A private temp dir for the sessions under test (short: a Unix socket path must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="r-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_redis_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)


def _session(root: Path) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen([sys.executable, "-c", SESSION], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(root)})
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    assert len(line) == 5, f"the session did not start: {line}"
    return proc, line


def test_reset_leaves_a_live_session_working(root: Path) -> None:
    proc, (guard, server, worker, directory, answer) = _session(root)
    try:
        for _ in range(20):
            report = reset(root=root)
            assert report.stopped == [] and report.removed == []
            assert set(report.kept) >= {directory, answer}
        assert all(psutil.pid_exists(int(pid)) for pid in (guard, server, worker))
        assert Path(directory, "redis.sock").exists() and Path(answer, "learner_answer.py").exists()
    finally:
        out, _ = proc.communicate("", timeout=30)
    count, errors, worker_alive = out.split()
    assert int(count) > 0 and errors == "0" and worker_alive == "True", "the session kept working through 20 resets"
    assert proc.returncode == 0 and list(root.iterdir()) == [], "its own ending removed everything it made"


def test_reset_reclaims_an_orphaned_session(root: Path) -> None:
    proc, (guard, server, worker, directory, answer) = _session(root)
    os.kill(int(guard), signal.SIGSTOP)  # a guardian that cannot clean up after its owner
    proc.kill()
    proc.wait()
    try:
        assert wait_gone(int(worker)), "a worker dies with its owner (parent-death signal)"
        left = {p.name for p in root.iterdir()}
        assert Path(directory).name in left and Path(answer).name in left
        assert any(name.endswith(".log") for name in left) and any(name.endswith(".pid") for name in left)
        dry = reset(dry_run=True, root=root)
        assert len(dry.stopped) == 2 and {p.name for p in root.iterdir()} == left, "a dry run changes nothing"
        report = reset(root=root)
        assert sorted(s.split()[0] for s in report.stopped) == sorted([guard, server])
        assert wait_gone(int(guard)) and wait_gone(int(server))
        assert list(root.iterdir()) == []
    except BaseException:  # a failed assertion must not leave a stopped guardian and its server running
        for pid in (guard, server, worker):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)
        raise


def test_reset_spares_processes_and_files_that_only_look_like_the_lab(root: Path) -> None:
    notes = root / "labkit-redis-notes.txt"
    notes.write_text("my notes\n")
    tail = subprocess.Popen(["tail", "-f", str(notes)], stdout=subprocess.DEVNULL)
    marker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                               "labkit/redis/guardian.py", "labkit-redis-", "-m labkit.tasks.worker"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    # Records of a dead owner that point at live processes which are not what the record says.
    fake_dir = root / f"labkit-redis-o{dead.pid}-abcdefgh"
    fake_dir.mkdir()
    (fake_dir / "guardian.pid").write_text(f"{tail.pid} {marker.pid}\n")
    (root / f"labkit-worker-o{dead.pid}-w1-abcdefgh.pid").write_text(f"{marker.pid}\n")
    try:
        report = reset(root=root)
        assert report.stopped == []
        assert tail.poll() is None and marker.poll() is None, "reset stopped a process that is not the lab's"
        assert notes.read_text() == "my notes\n"
        assert sorted(Path(p).name for p in report.removed) == sorted(
            [fake_dir.name, f"labkit-worker-o{dead.pid}-w1-abcdefgh.pid"])
    finally:
        for proc in (tail, marker):
            proc.kill()
            proc.wait()


def test_a_colon_less_prefix_is_a_namespace_on_a_shared_server(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = EmbeddedRedis.start()
    client = RedisTarget(shared.url, "").sync_client()
    try:
        client.mset({"team1:doc:1": "x", "team1:queue": "y", "team10:doc:1": "z", "team1x:doc:1": "w",
                     "team1other": "v", "team1": "u", "app:data": "t"})
        monkeypatch.setenv("REDIS_URL", shared.url)
        monkeypatch.setenv("LABKIT_PREFIX", "team1")
        assert redis_target().prefix == "team1:", "the lab itself writes under the namespace"
        dry = ResetReport()
        reset_keys(dry, dry_run=True)
        assert dry.deleted_keys == 2 and client.dbsize() == 7
        report = ResetReport()
        reset_keys(report)
        assert report.deleted_keys == 2 and report.prefix == "team1:"
        assert sorted(client.keys("*")) == ["app:data", "team1", "team10:doc:1", "team1other", "team1x:doc:1"]
    finally:
        client.close()
        shared.stop()


def test_keys_on_a_shared_server_only_this_users(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = EmbeddedRedis.start()
    client = RedisTarget(shared.url, "").sync_client()
    try:
        client.mset({"arl:alice:s1:doc:1": "x", "arl:alice:s2:queue": "y", "arl:bob:s1:doc:1": "z", "app:data": "w"})
        monkeypatch.setenv("REDIS_URL", shared.url)
        monkeypatch.setenv("LABKIT_PREFIX", "arl:alice:")
        report = ResetReport()
        reset_keys(report)
        assert report.deleted_keys == 2
        assert sorted(client.keys("*")) == ["app:data", "arl:bob:s1:doc:1"]
    finally:
        client.close()
        shared.stop()


def test_dry_run_cli_changes_nothing(root: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphans = [root / f"labkit-{kind}-o{dead.pid}-abcdefgh" for kind in ("answer", "progress")]
    for orphan in orphans:
        orphan.mkdir()
    result = subprocess.run([sys.executable, "-m", "labkit", "reset", "--dry-run"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "TMPDIR": str(root)})
    assert result.returncode == 0 and "would remove 2" in result.stdout
    assert all(str(orphan) in result.stdout and orphan.is_dir() for orphan in orphans)
    result = subprocess.run([sys.executable, "-m", "labkit", "reset"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "TMPDIR": str(root)})
    assert result.returncode == 0 and "removed 2" in result.stdout and not any(o.exists() for o in orphans)


def test_a_wrong_redis_url_is_one_line_with_the_password_masked() -> None:
    env = {**os.environ, "REDIS_URL": "redis://:hunter2@127.0.0.1:1/0"}
    result = subprocess.run([sys.executable, "-m", "labkit", "reset"], capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 2 and "hunter2" not in result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Cannot reach" in result.stderr


def test_old_style_server_directories_go_only_when_dead_and_not_new(root: Path) -> None:
    """Directories named before they carried an owner's pid: no way to ask the owner, so ask the socket."""
    stale, young, live = (root / f"labkit-redis-{name}" for name in ("stale123", "young123", "live1234"))
    for directory in (stale, young, live):
        directory.mkdir()
    server = subprocess.Popen([str(find_server_binary()), "--port", "0", "--unixsocket", str(live / "redis.sock"),
                               "--save", "", "--appendonly", "no", "--dir", str(live)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not (live / "redis.sock").exists():
            time.sleep(0.01)
        an_hour_ago = time.time() - 3600
        for directory in (stale, live):
            os.utime(directory, (an_hour_ago, an_hour_ago))
        report = reset(root=root)
        assert report.removed == [str(stale)] and report.stopped == []
        assert young.is_dir() and live.is_dir() and server.poll() is None
    finally:
        server.terminate()
        server.wait(10)
