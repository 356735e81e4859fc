"""Start real worker processes for demos, checks and tests, and make sure they end.

Signals are only ever sent to these subprocesses, never to the kernel. A
:class:`ProcessGroup` kills (SIGKILL) and reaps whatever is still running when
it closes, whatever happened in between; workers also die with their parent
(``PR_SET_PDEATHSIG``), so a crashed kernel leaves none behind.

Workers are forked from a fork server (``multiprocessing``'s ``forkserver``)
that imported the worker and the ``openai`` SDK once: a fresh interpreter per
worker would pay for that import (one to three seconds of CPU) every time, and
notebook 04 starts sixteen workers. The fork server exits when this process
does, even after ``kill -9`` (it reads a pipe from us), and takes its workers
with it.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import multiprocessing
import multiprocessing.forkserver
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import weakref
from pathlib import Path
from typing import Any, Iterable

from ..errors import LabError
from ..model.endpoint import model_endpoint
from ..redis.target import RedisTarget
from ..scratch import owned_prefix, temp_root
from .worker import PARENT_ENV

_live: "weakref.WeakSet[WorkerProcess]" = weakref.WeakSet()
# What every worker needs, imported once; the last one makes the server remove its temp dir when it exits.
_PRELOAD = ["labkit.tasks.worker", "labkit.model.sdk_model", "labkit.tasks.forkserver_setup"]
DIR_ENV = "LABKIT_FORKSERVER_DIR"  # that temp dir, for the server (only it reads this)
WORKER_NAME = "labkit-worker-"  # the process name of our workers (forkserver_setup.py reads it)
_server_dir: Path | None = None
_server_lock = threading.Lock()


def _fork_server() -> Any:
    """The fork-server context, its socket in a temp dir named for us (``labkit reset`` reclaims an orphan's)."""
    global _server_dir
    with _server_lock:  # workers are started from threads, two at once
        config = multiprocessing.current_process()._config  # where multiprocessing keeps its temp dir
        if config.get("tempdir") is None:
            _server_dir = Path(tempfile.mkdtemp(prefix=f"{owned_prefix('worker')}forkserver-", dir=temp_root()))
            config["tempdir"] = str(_server_dir)
        # Read by the fork server as it starts (on first use). Never an inherited value: that dir is another's.
        if _server_dir is not None:
            os.environ[DIR_ENV] = str(_server_dir)
        else:
            os.environ.pop(DIR_ENV, None)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(_PRELOAD)  # only counts before the server starts; it starts on first use
        return context


@atexit.register
def stop_fork_server() -> None:
    """Stop the workers' fork server (if it runs) and remove its temp dir; it starts again when needed."""
    global _server_dir
    with _server_lock:
        server = getattr(multiprocessing.forkserver, "_forkserver", None)
        if server is not None and getattr(server, "_forkserver_pid", None) and hasattr(server, "_stop"):
            with contextlib.suppress(FileNotFoundError):  # the exiting server removed its socket itself
                server._stop()
        if _server_dir is not None:
            shutil.rmtree(_server_dir, ignore_errors=True)
            if multiprocessing.current_process()._config.get("tempdir") == str(_server_dir):
                del multiprocessing.current_process()._config["tempdir"]
            _server_dir = None


def _worker_main(argv: list[str], env: dict[str, str], log: str) -> None:
    """The forked worker: its output goes to ``log``, its environment is ``env``, then the worker runs."""
    # multiprocessing hands each child the write end of the fork server's "alive" pipe, which keeps the
    # server up while any child lives. Ours must not: the server has to exit when the process that started
    # it dies, so that its workers die with it (their parent-death signal).
    alive = getattr(getattr(multiprocessing.forkserver, "_forkserver", None), "_forkserver_alive_fd", None)
    if isinstance(alive, int):
        with contextlib.suppress(OSError):
            os.close(alive)
    # Signals as a Python started on its own has them. An ignored SIGINT survives exec, and a Jupyter
    # kernel ignores SIGINT: without this, a fork server started from a kernel hands that on, and a
    # worker with no handler of its own would shrug off the very SIGINT that rule 5 teaches about.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    out = os.open(log, os.O_WRONLY | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(env, **{PARENT_ENV: str(os.getppid())})  # our parent is the fork server
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    from .worker import main

    try:
        code = main(argv)
    except KeyboardInterrupt:  # as a Python started on its own would end: the traceback, then death by SIGINT
        traceback.print_exc()
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        raise
    raise SystemExit(code)


class Forked:
    """The part of ``subprocess.Popen`` the lab uses, for a worker forked from the fork server."""

    def __init__(self, process: Any) -> None:
        self._process = process
        self.pid: int = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode  # like Popen's: negative for a signal

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout or 0)
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class WorkerProcess:
    """One worker subprocess (:func:`labkit.tasks.worker.main`); output goes to a log file."""

    def __init__(self, target: RedisTarget, worker_id: str, args: Iterable[str] = (),
                 python_path: Iterable[str] = ()) -> None:
        self.id = worker_id
        handle, name = tempfile.mkstemp(prefix=f"{owned_prefix('worker')}{worker_id}-", suffix=".log",
                                        dir=temp_root())
        os.close(handle)
        self.log = Path(name)
        env = {**os.environ, **target.env(), **model_endpoint().env(), PARENT_ENV: str(os.getpid()),
               "PYTHONUNBUFFERED": "1"}
        paths = [*python_path, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        env.pop("LABKIT_CHECK_MODE", None)
        self.argv = ["--id", worker_id, *args]
        process = _fork_server().Process(target=_worker_main, args=(self.argv, env, str(self.log)),
                                         name=f"{WORKER_NAME}{worker_id}")
        process.start()
        self.popen = Forked(process)
        self.pid_file.write_text(f"{self.popen.pid}\n")  # how `labkit reset` finds an orphan worker
        self.started = time.time()
        self.signalled_at: float | None = None
        self.exited_at: float | None = None
        _live.add(self)

    @property
    def pid_file(self) -> Path:
        return self.log.with_suffix(".pid")

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_ready(self, timeout: float = 10.0) -> None:
        """Wait for the worker's "ready" line (registered, heartbeat running)."""
        deadline = time.monotonic() + timeout
        while True:
            output = await asyncio.to_thread(self.output)  # a file read: keep it off the loop
            if "ready" in output.split():
                return
            if not self.alive:
                raise LabError(f"worker {self.id} exited with {self.popen.returncode} before it was ready:\n"
                               f"{output[-1500:]}")
            if time.monotonic() > deadline:
                raise LabError(f"worker {self.id} was not ready within {timeout:g} s:\n{output[-1500:]}")
            await asyncio.sleep(0.02)

    def send(self, sig: int) -> None:
        """Send a signal (SIGTERM, SIGINT, SIGKILL) to the worker, noting when."""
        if self.alive:
            if self.signalled_at is None:
                self.signalled_at = time.time()
            self.popen.send_signal(sig)

    async def wait_exit(self, timeout: float) -> int | None:
        """The exit code, or ``None`` if still running after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None:
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.01)
        if self.exited_at is None:
            self.exited_at = time.time()
        return self.popen.returncode

    def kill(self) -> None:
        """SIGKILL and reap; safe to call on an exited process."""
        if self.popen.poll() is None:
            self.popen.kill()
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a zombie the kernel will not reap
            pass
        if self.exited_at is None:
            self.exited_at = time.time()

    def discard_log(self) -> None:
        """Remove the log and pid file (the run is over, its numbers are taken)."""
        for path in (self.log, self.pid_file):
            path.unlink(missing_ok=True)


def _kill_abandoned(started: "concurrent.futures.Future[WorkerProcess]") -> None:
    if not started.cancelled() and started.exception() is None:
        proc = started.result()
        proc.kill()
        proc.discard_log()


class ProcessGroup:
    """The workers one demo/check/test started; closing it kills any still running.

    Use ``async with ProcessGroup(target) as group: w = await group.start("w1", "--mode", "offload")``.
    """

    def __init__(self, target: RedisTarget, python_path: Iterable[str] = ()) -> None:
        self.target = target
        self.python_path = list(python_path)
        self.procs: list[WorkerProcess] = []

    async def start(self, worker_id: str, *args: str, ready: bool = True, timeout: float = 10.0) -> WorkerProcess:
        # In a thread: the first start waits for the fork server's imports, which must not hold the loop.
        started: concurrent.futures.Future[WorkerProcess] = concurrent.futures.Future()

        def start_in_thread() -> WorkerProcess:
            try:
                proc = WorkerProcess(self.target, worker_id, args, self.python_path)
            except BaseException as exc:
                started.set_exception(exc)
                raise
            started.set_result(proc)
            return proc

        try:
            proc = await asyncio.to_thread(start_in_thread)
        except asyncio.CancelledError:
            # A check that timed out cancels this await, but the thread still starts the process, after
            # close() has run: kill it as soon as it exists, from the thread that started it.
            started.add_done_callback(_kill_abandoned)
            raise
        self.procs.append(proc)
        if ready:
            await proc.wait_ready(timeout)
        return proc

    def close(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.discard_log()

    async def __aenter__(self) -> "ProcessGroup":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_live):
        if proc.alive:
            proc.popen.send_signal(signal.SIGKILL)
        proc.discard_log()
