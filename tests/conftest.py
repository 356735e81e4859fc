"""Fixtures shared by the suite: a real Redis server the suite starts itself.

The suite runs with a temp dir of its own (``TMPDIR``, inherited by every
worker, guardian and notebook it starts), so at the end it can tell exactly
what it left behind: any ``labkit-*`` entry still there fails the run. A run
killed before its end leaves that dir; the next run removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest


def _sweep_dead_suites() -> None:
    """Remove the temp dirs of earlier runs that were killed before they could (their pid is in the name)."""
    for old in Path(tempfile.gettempdir()).glob("arl-suite-o*-*"):
        pid = old.name.split("-")[2][1:]
        if pid.isdigit() and not psutil.pid_exists(int(pid)) and old.stat().st_uid == os.getuid():
            shutil.rmtree(old, ignore_errors=True)


_sweep_dead_suites()
_SUITE_TMP = Path(tempfile.mkdtemp(prefix=f"arl-suite-o{os.getpid()}-"))
os.environ["TMPDIR"] = str(_SUITE_TMP)
tempfile.tempdir = str(_SUITE_TMP)

from labkit.redis.server import stop_shared_server  # noqa: E402 - after TMPDIR is ours
from labkit.tasks.procs import stop_fork_server  # noqa: E402
from labkit.redis.target import RedisTarget, redis_target  # noqa: E402

REDIS_FIXTURES = {"redis_base", "lab"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tag every test that talks to Redis, so CI can re-run them on another server.
    for item in items:
        if REDIS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.redis)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run if it left lab temp entries (logs, answer modules, server directories)."""
    stop_shared_server()  # the servers meant to live until exit: end them first
    stop_fork_server()
    left = sorted(p.name for p in _SUITE_TMP.glob("labkit-*"))
    shutil.rmtree(_SUITE_TMP, ignore_errors=True)
    if left:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"FAILED: the suite left {len(left)} lab temp entries: {', '.join(left[:20])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def redis_base() -> RedisTarget:
    """The suite's server: REDIS_URL if set, else this process's embedded one."""
    return redis_target(prefix=f"arl-test:{uuid.uuid4().hex[:8]}:")


@pytest.fixture
def ipython_shell():
    """A real IPython shell for the cell-level tests, with no history file: the suite's temp dir is gone
    by the time IPython's exit hook would write to one."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    try:
        yield shell
    finally:
        InteractiveShell.clear_instance()


@pytest.fixture
def lab(redis_base: RedisTarget):
    """A fresh key prefix per test on the real server; its keys are deleted after."""
    target = redis_base.child(uuid.uuid4().hex[:8])
    yield target
    target.cleanup()


@pytest.fixture
def loaded_machine():
    """Busy-loop processes, two per core, for the test's duration: a class sharing the machine, as on a small
    JupyterHub. Checks must still tell right from wrong then (their verdicts rest on contrasts)."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2 * (os.cpu_count() or 2))]
    time.sleep(0.3)  # let them take the CPUs before the test starts
    yield len(burners)
    for burner in burners:
        burner.kill()
        burner.wait()
