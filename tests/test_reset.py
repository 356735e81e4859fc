"""`labkit reset`: finds and stops stray lab processes; clears only this user's keys."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from labkit.redis.target import RedisTarget
from labkit.redis.server import EmbeddedRedis
from labkit.cli.reset import ResetReport, lab_processes, reset_keys, stop_processes

pytestmark = pytest.mark.redis

STRAY = (
    "from labkit.redis.server import EmbeddedRedis; import time; "
    "s = EmbeddedRedis.start(); print(s.guard.pid, s.server_pid, flush=True); time.sleep(120)"
)


def test_stray_server_processes_are_found_and_stopped() -> None:
    owner = subprocess.Popen([sys.executable, "-c", STRAY], stdout=subprocess.PIPE, text=True)
    try:
        guard_pid, server_pid = map(int, owner.stdout.readline().split())
        found = {pid: args for pid, args in lab_processes()}
        assert guard_pid in found and "guardian.py" in found[guard_pid]
        assert server_pid in found and "labkit-redis-" in found[server_pid]
        assert owner.pid not in found, "only lab processes are listed, not whoever started them"
        stop_processes([(guard_pid, found[guard_pid]), (server_pid, found[server_pid])])
        time.sleep(0.2)
        remaining = {pid for pid, _ in lab_processes()}
        assert guard_pid not in remaining and server_pid not in remaining
    finally:
        owner.kill()
        owner.wait()


def test_keys_on_a_shared_server_only_this_users(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = EmbeddedRedis.start()
    try:
        client = RedisTarget(shared.url, "").sync_client()
        client.mset({"arl:alice:s1:doc:1": "x", "arl:alice:s2:queue": "y", "arl:bob:s1:doc:1": "z", "app:data": "w"})
        monkeypatch.setenv("REDIS_URL", shared.url)
        monkeypatch.setenv("LABKIT_PREFIX", "arl:alice:")
        dry = ResetReport()
        reset_keys(dry, dry_run=True)
        assert dry.deleted_keys == 2 and client.dbsize() == 4
        report = ResetReport()
        reset_keys(report)
        assert report.deleted_keys == 2
        assert sorted(client.keys("*")) == ["app:data", "arl:bob:s1:doc:1"]
        client.close()
    finally:
        shared.stop()


def test_dry_run_cli_stops_nothing() -> None:
    before = {pid for pid, _ in lab_processes()}
    result = subprocess.run([sys.executable, "-m", "labkit", "reset", "--dry-run"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "process(es)" in result.stdout
    after = {pid for pid, _ in lab_processes()}
    assert before <= after | set(), "a dry run must not stop anything"
