"""The preflight command: exit codes and the fix it prints for each failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import pytest

pytestmark = pytest.mark.redis


def _doctor(**env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "LABKIT_PREFIX")}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "labkit", "doctor"], capture_output=True, text=True, env=full, timeout=120
    )


def test_healthy_machine_exits_zero() -> None:
    result = _doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("python", "packages", "redis", "widgets", "kernel"):
        assert any(line.startswith("OK") and f" {name} " in line for line in result.stdout.splitlines()), name
    assert "WATCH/MULTI/EXEC work" in result.stdout


def test_unreachable_redis_url_fails_with_a_fix() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _doctor(REDIS_URL=f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert "FAIL  redis" in result.stdout and "fix:" in result.stdout
    assert "1 check(s) failed" in result.stdout


def test_missing_server_binary_fails_with_how_to_get_one() -> None:
    result = _doctor(LABKIT_REDIS_SERVER="/nonexistent/redis-server")
    assert result.returncode == 1
    assert "FAIL  redis" in result.stdout and "Install one of" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "labkit", "dance"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_windows_gets_the_ways_that_work_instead_of_a_missing_server() -> None:
    # Native Windows cannot run the embedded server; the doctor must say what works there.
    # A fresh process, told it runs on Windows, so no server started by another test is reused.
    probe = (
        "import sys\n"
        "import redis\n"  # before the fake platform: asyncio would load its Windows event loop
        "from labkit.cli.doctor import check_redis\n"
        "sys.platform = 'win32'\n"
        "f = check_redis(); print(f.ok); print(f.detail, f.fix)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    ok, text = out.stdout.split("\n", 1)
    assert ok == "False"
    for way in ("Binder", "WSL", "REDIS_URL"):
        assert way in text, text
