"""A class on a real JupyterHub, for tests: system users, a learner runtime, the hub, kernels.

The hub runs as root with ``LocalProcessSpawner``, so every learner's server, kernels
and Redis run as that learner's own system user, as on a real class server. Learners
cannot read root's files, so they get a world-readable runtime: a venv made from a
Python every user may run, whose packages are a hard-linked copy of this venv's, plus
a copy of the lab (``labkit`` and the notebooks).
"""

from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

ROOT = Path(__file__).resolve().parent.parent
MISSING_HELP = (
    "The hub tests need root (to create learners), jupyterhub (pip install -e '.[test]') and "
    "configurable-http-proxy (apt-get install nodejs npm && npm install -g configurable-http-proxy)."
)


def hub_prerequisites() -> list[str]:
    """What this machine lacks for a hub test (empty when it can run one)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the test creates system users)")
    if shutil.which("useradd") is None or shutil.which("userdel") is None:
        missing.append("useradd/userdel")
    if shutil.which("configurable-http-proxy") is None:
        missing.append("configurable-http-proxy on PATH")
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        missing.append("the jupyterhub package")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- learners


@dataclass(frozen=True)
class Learner:
    name: str
    uid: int
    home: Path


@contextmanager
def system_users(count: int) -> Iterator[list[Learner]]:
    """``count`` fresh system users, removed (with their homes) afterwards."""
    tag = uuid.uuid4().hex[:4]
    made: list[Learner] = []
    try:
        for i in range(1, count + 1):
            name = f"arl{tag}l{i}"
            subprocess.run(["useradd", "--create-home", "--user-group", "--shell", "/bin/sh", name], check=True)
            entry = pwd.getpwnam(name)
            made.append(Learner(name, entry.pw_uid, Path(entry.pw_dir)))
        yield made
    finally:
        for learner in made:
            subprocess.run(["userdel", "--remove", learner.name], check=False, capture_output=True)


def processes_of(uids: set[int]) -> list[str]:
    """``pid command`` of every live process owned by one of ``uids``."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        uid_line = next((line for line in text.splitlines() if line.startswith("Uid:")), "")
        if uid_line and int(uid_line.split()[1]) in uids:
            cmdline = (status.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            found.append(f"{status.parent.name} {cmdline.strip()}")
    return found


def _runs_as(python: Path, learner: Learner, env: dict[str, str] | None = None) -> bool:
    try:
        done = subprocess.run(
            [str(python), "-c", "pass"],
            check=False,
            user=learner.uid,
            group=pwd.getpwnam(learner.name).pw_gid,
            extra_groups=[],
            env=env,
            capture_output=True,
            timeout=30,
        )
    except OSError:
        return False
    return done.returncode == 0


def _link_tree(source: Path, target: Path, ignore=None) -> None:
    """Copy a tree as hard links (instant, no space on one file system), else as files."""
    try:
        shutil.copytree(source, target, copy_function=os.link, symlinks=True, ignore=ignore)
    except (OSError, shutil.Error):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True, ignore=ignore)


@dataclass(frozen=True)
class Runtime:
    """What a learner's server runs: a python, and the environment it needs."""

    python: Path
    lab: Path
    env: dict[str, str]


def learner_runtime(base: Path, learner: Learner) -> Runtime:
    """A world-readable venv with this venv's packages and a copy of the lab.

    The interpreter is this one: used in place when a learner may run it, else a
    hard-linked copy of its installation (pyenv keeps it under root's home).
    """
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    python, env = Path(sys.executable).resolve(), {}
    if not _runs_as(python, learner):
        own_site = Path(sysconfig.get_paths(vars={"base": sys.base_prefix})["purelib"])
        skip = shutil.ignore_patterns(own_site.name) if own_site.parent.name == version else None
        _link_tree(Path(sys.base_prefix), base / "python", ignore=skip)
        python = base / "python" / python.relative_to(sys.base_prefix)
        env = {"LD_LIBRARY_PATH": str(base / "python" / "lib")}  # its libpython, not the one under /root
    packages = base / "site-packages"
    _link_tree(Path(sysconfig.get_paths()["purelib"]), packages)
    lab = base / "lab"
    for part in ("labkit", "notebooks"):
        shutil.copytree(ROOT / part, lab / part, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    venv = base / "venv"
    subprocess.run([str(python), "-m", "venv", "--without-pip", str(venv)], check=True, env={**os.environ, **env})
    venv_site = next(venv.glob("lib/python*/site-packages"))
    (venv_site / "labkit-class.pth").write_text(f"{lab}\n{packages}\n")
    for path in (base, *base.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o755)
    if not _runs_as(venv / "bin" / "python", learner, env):
        raise RuntimeError(f"{learner.name} cannot run the runtime built in {base}; is /tmp mounted noexec?")
    return Runtime(venv / "bin" / "python", lab, env)


# ---------------------------------------------------------------- the hub


@dataclass
class Hub:
    """A running JupyterHub on loopback, driven through its REST API with a service token."""

    workdir: Path
    learners: list[Learner]
    runtime: Runtime
    environment: dict[str, str]
    per_learner: dict[str, dict[str, str]] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: uuid.uuid4().hex)
    process: subprocess.Popen[bytes] | None = None
    proxy_pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        names = [learner.name for learner in self.learners]
        # Checks show their cards and never raise: timing checks are judged in a quiet kernel, not here.
        env = {**self.runtime.env, **self.environment}
        if os.environ.get("LABKIT_REDIS_SERVER"):
            env["LABKIT_REDIS_SERVER"] = os.environ["LABKIT_REDIS_SERVER"]
        keys = sorted({key for values in self.per_learner.values() for key in values})
        return "\n".join([
            f"per_learner = {self.per_learner!r}",
            f"env = {env!r}",
            f"for key in {keys!r}:",
            "    env[key] = lambda spawner, key=key: per_learner[spawner.user.name][key]",
            "c.JupyterHub.ip = '127.0.0.1'",
            f"c.JupyterHub.port = {self.port}",
            "c.JupyterHub.hub_ip = '127.0.0.1'",
            f"c.JupyterHub.hub_port = {free_port()}",
            f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{free_port()}'",
            f"c.JupyterHub.db_url = 'sqlite:///{self.workdir}/jupyterhub.sqlite'",
            f"c.JupyterHub.cookie_secret_file = '{self.workdir}/cookie_secret'",
            f"c.ConfigurableHTTPProxy.pid_file = '{self.workdir}/proxy.pid'",
            "c.JupyterHub.authenticator_class = 'dummy'",
            f"c.DummyAuthenticator.password = {uuid.uuid4().hex!r}",
            f"c.Authenticator.allowed_users = set({names!r})",
            "c.JupyterHub.spawner_class = 'localprocess'",
            f"c.Spawner.cmd = [{str(self.runtime.python)!r}, '-m', 'jupyterhub.singleuser']",
            f"c.Spawner.notebook_dir = {str(self.runtime.lab)!r}",
            "c.Spawner.environment = env",
            "c.Spawner.env_keep = ['PATH', 'LANG', 'LC_ALL']  # not PYTHONPATH or VIRTUAL_ENV: root's",
            "c.Spawner.start_timeout = 120",
            "c.Spawner.http_timeout = 120",
            "c.JupyterHub.cleanup_servers = True",
            f"c.JupyterHub.services = [{{'name': 'class-test', 'api_token': {self.token!r}}}]",
            (
                "c.JupyterHub.load_roles = [{'name': 'class-test', 'services': ['class-test'], 'scopes': "
                "['admin:users', 'admin:servers', 'access:servers', 'list:users', 'read:users']}]"
            ),
        ])

    def start(self) -> None:
        """Start the hub and wait until its REST API answers through the proxy."""
        (self.workdir / "jupyterhub_config.py").write_text(self.config())
        with open(self.workdir / "hub.log", "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        ask = urllib.request.Request(self.url + "/hub/api/users", headers={"Authorization": f"token {self.token}"})
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(ask, timeout=10):
                    self.proxy_pid = int((self.workdir / "proxy.pid").read_text().strip())
                    return
            except OSError:  # not listening yet, or the proxy has no route to the hub yet (404)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the hub did not answer within 60 s:\n{self.log_tail()}") from None
                time.sleep(0.2)

    def log_tail(self, lines: int = 40) -> str:
        text = (self.workdir / "hub.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    async def api(self, method: str, path: str, body: object | None = None) -> dict:
        request = HTTPRequest(
            self.url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            body=None if body is None and method == "GET" else json.dumps(body or {}),
            request_timeout=120,
        )
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as exc:
            if exc.code < 500:
                raise
            raise RuntimeError(f"{method} {path}: {exc}\n{self.log_tail()}") from None
        return json.loads(response.body) if response.body else {}

    async def spawn(self, learner: Learner) -> None:
        """Start the learner's server through the REST API and wait until the hub says it is ready."""
        await self.api("POST", f"/hub/api/users/{learner.name}/server")
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            model = await self.api("GET", f"/hub/api/users/{learner.name}")
            if model.get("servers", {}).get("", {}).get("ready"):
                return
            await asyncio.sleep(0.5)
        raise RuntimeError(f"{learner.name}'s server never became ready:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM: the hub stops every server it spawned and its proxy, then exits."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---------------------------------------------------------------- kernels


class CellFailed(AssertionError):
    pass


@dataclass
class RemoteKernel:
    """A kernel in a learner's server, run through the server's kernel API and websocket."""

    hub: Hub
    learner: Learner
    kernel_id: str = ""
    connection: object = None
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def base(self) -> str:
        return f"/user/{self.learner.name}/api"

    async def start(self, cwd: str) -> RemoteKernel:
        model = await self.hub.api("POST", f"{self.base}/kernels", {"name": "python3", "path": cwd})
        self.kernel_id = model["id"]
        url = f"ws://127.0.0.1:{self.hub.port}{self.base}/kernels/{self.kernel_id}/channels?session_id={self.session}"
        # The server answers the upgrade once the kernel is up: with four kernels starting at once on
        # two cores that can take longer than tornado's default 20 s.
        request = HTTPRequest(url, headers={"Authorization": f"token {self.hub.token}"},
                              connect_timeout=120, request_timeout=120)
        self.connection = await websocket_connect(request, max_message_size=64 << 20)
        return self

    async def execute(self, code: str, timeout: float = 240) -> str:
        """Run one cell; returns its text output, raises ``CellFailed`` on an error."""
        msg_id = uuid.uuid4().hex
        self.connection.write_message(json.dumps({
            "header": {"msg_id": msg_id, "session": self.session, "username": self.learner.name,
                       "msg_type": "execute_request", "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        text, reply, idle = [], None, False
        deadline = time.monotonic() + timeout
        while reply is None or not idle:
            raw = await asyncio.wait_for(self.connection.read_message(), max(0.1, deadline - time.monotonic()))
            if raw is None:
                raise CellFailed(f"{self.learner.name}'s kernel closed its channels while running:\n{code[:300]}")
            if isinstance(raw, bytes):  # a message with binary buffers (widgets): never a reply or status
                continue
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text.append(content["text"])
            elif kind == "execute_reply":
                reply = content
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        if reply["status"] != "ok":
            trace = "\n".join(reply.get("traceback", []))
            raise CellFailed(f"{self.learner.name}: {reply.get('ename')}: {reply.get('evalue')}\n{trace}\nin:\n{code[:500]}")
        return "".join(text)

    async def run_notebook(self, relative: str) -> None:
        """Fetch a notebook through the contents API and run its code cells in order."""
        model = await self.hub.api("GET", f"{self.base}/contents/{relative}?content=1")
        for cell in model["content"]["cells"]:
            if cell["cell_type"] == "code" and cell["source"].strip():
                await self.execute(cell["source"])

    def close(self) -> None:
        self.connection.close()

    async def probe(self, code: str) -> dict:
        """Run ``code`` that prints one JSON object; return it."""
        return json.loads((await self.execute(code)).strip().splitlines()[-1])
