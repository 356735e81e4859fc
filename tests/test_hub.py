"""A class of four on a real JupyterHub: each learner is a system user with their own server.

Both set-ups the README offers are run with notebooks 01 and 03 in all four servers at
once: a private Redis per kernel, and one shared Redis (``REDIS_URL``) with per-learner
prefixes, where each learner's Redis ACL user may touch only ``arl:<learner>:*``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
import redis
from hub_class import (
    Hub,
    Learner,
    RemoteKernel,
    free_port,
    hub_prerequisites,
    learner_runtime,
    processes_of,
    system_users,
)
from worker_procs import pid_alive

from labkit.redis.server import find_server_binary

pytestmark = [pytest.mark.hub, pytest.mark.timeout(900)]

NOTEBOOKS = ("notebooks/solutions/01-stalled-loop.ipynb", "notebooks/solutions/03-racing-requeue.ipynb")
LEARNERS = 4

WHERE = """
import json, os
from labkit.redis.target import redis_target
t = redis_target()
print(json.dumps({"uid": os.getuid(), "url": t.url, "prefix": t.prefix, "kernel_pid": os.getpid(),
                  "server_pid": t.server.server_pid if t.server else 0,
                  "directory": str(t.server.directory) if t.server else ""}))
"""

REACH = """
import json, redis
def reach(path):
    try:
        redis.Redis(unix_socket_path=path, socket_timeout=2).ping()
        return "ok"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
print(json.dumps({path: reach(path) for path in %r}))
"""


@pytest.fixture(scope="module", autouse=True)
def _prerequisites() -> None:
    missing = hub_prerequisites()
    if missing and os.environ.get("CI"):
        pytest.fail("CI must run the hub tests but this machine lacks: " + "; ".join(missing))
    if missing:
        pytest.skip("needs " + "; ".join(missing))


@contextmanager
def class_on_hub(per_learner=None) -> Iterator[tuple[Hub, list[Learner]]]:
    """Four learners, a runtime they can read, and a running hub; all removed afterwards."""
    # Not in the suite's TMPDIR: that one is root's alone, and learners run from the runtime inside.
    base = Path(tempfile.mkdtemp(prefix="labkit-hub-", dir="/tmp"))
    base.chmod(0o755)
    hub = None
    try:
        with system_users(LEARNERS) as learners:
            try:
                runtime = learner_runtime(base / "runtime", learners[0])
                (base / "hub").mkdir()
                hub = Hub(base / "hub", learners, runtime, {}, per_learner(learners) if per_learner else {})
                hub.start()
                yield hub, learners
            finally:
                if hub is not None:
                    hub.stop()
                end_processes({learner.uid for learner in learners})  # only after a failure
    finally:
        shutil.rmtree(base, ignore_errors=True)


def end_processes(uids: set[int]) -> None:
    """Kill what the learners left (before userdel, which refuses a user with processes)."""
    for _ in range(50):
        if not (left := processes_of(uids)):
            return
        for line in left:
            with suppress(ProcessLookupError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        time.sleep(0.1)


async def run_class(hub: Hub, learners: list[Learner]) -> dict[str, list[RemoteKernel]]:
    """Spawn every server through the REST API, then run 01 and 03 in each, all learners at once."""
    began = time.monotonic()
    await asyncio.gather(*(hub.spawn(learner) for learner in learners))
    print(f"{len(learners)} servers spawned in {time.monotonic() - began:.1f} s")

    async def one(learner: Learner) -> list[RemoteKernel]:
        kernels = []
        for notebook in NOTEBOOKS:
            began = time.monotonic()
            kernel = await RemoteKernel(hub, learner).start("notebooks/solutions")
            await kernel.run_notebook(notebook)
            print(f"{learner.name} {notebook} {time.monotonic() - began:.1f} s")
            kernels.append(kernel)
        return kernels

    return dict(zip((learner.name for learner in learners), await asyncio.gather(*(one(lr) for lr in learners))))


def assert_nothing_left(hub: Hub, learners: list[Learner], pids: list[int], directories: list[str]) -> None:
    assert hub.process is not None and hub.process.poll() is not None, "the hub is still running"
    uids = {learner.uid for learner in learners}
    deadline = time.monotonic() + 15  # a guardian ends its server just after its kernel, on a busy machine later
    while processes_of(uids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not processes_of(uids), "learner processes outlived the hub"
    assert not pid_alive(hub.proxy_pid), "the proxy outlived the hub"
    assert not [pid for pid in pids if pid_alive(pid)]
    assert not [d for d in directories if d and Path(d).exists()], "a Redis directory was left in /tmp"


async def probe_every_kernel(kernels: dict[str, list]) -> dict[str, list[dict]]:
    """Where each learner's kernels found their Redis (a loop: Python 3.10 refuses nested async comprehensions)."""
    where: dict[str, list[dict]] = {}
    for name, ks in kernels.items():
        where[name] = [await k.probe(WHERE) for k in ks]
    return where


async def private_class(hub: Hub, learners: list[Learner]) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Run the class; then, from each learner's kernel, try every kernel's socket."""
    kernels = await run_class(hub, learners)
    where = await probe_every_kernel(kernels)
    sockets = sorted(seen["url"].removeprefix("unix://") for seens in where.values() for seen in seens)
    reached = {name: await ks[-1].probe(REACH % sockets) for name, ks in kernels.items()}
    for ks in kernels.values():
        for kernel in ks:
            kernel.close()
    return where, reached


def test_private_redis_per_kernel_on_a_hub() -> None:
    with class_on_hub() as (hub, learners):
        where, reached = asyncio.run(private_class(hub, learners))

        owner = {}
        for learner in learners:
            for seen in where[learner.name]:
                assert seen["uid"] == learner.uid
                directory = Path(seen["directory"])
                assert seen["url"] == f"unix://{directory}/redis.sock"
                assert directory.stat().st_uid == learner.uid and directory.stat().st_mode & 0o777 == 0o700
                status = Path(f"/proc/{seen['server_pid']}/status").read_text()
                assert re.search(rf"^Uid:\s+{learner.uid}\s", status, re.MULTILINE), "the Redis runs as its learner"
                owner[f"{directory}/redis.sock"] = learner.name
        assert len(owner) == LEARNERS * len(NOTEBOOKS), "every kernel has its own server"

        for learner in learners:
            for path, whose in owner.items():
                if whose == learner.name:
                    assert reached[learner.name][path] == "ok", reached[learner.name][path]
                else:
                    assert "Permission denied" in reached[learner.name][path], f"{learner.name} reached {whose}'s Redis"

        hub.stop()
        seen = [s for ss in where.values() for s in ss]
        assert_nothing_left(
            hub, learners, [s[k] for s in seen for k in ("kernel_pid", "server_pid")], [s["directory"] for s in seen]
        )


class Monitor(threading.Thread):
    """Every command the server receives, as argument lists (a raw MONITOR connection)."""

    ARG = re.compile(rb'"((?:[^"\\]|\\.)*)"')

    def __init__(self, port: int, password: str) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(f"AUTH {password}\r\nMONITOR\r\n".encode())
        self.commands: list[list[str]] = []

    def run(self) -> None:
        buffer = b""
        while chunk := self.sock.recv(1 << 16):
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                if line.startswith(b"+") and b"[" in line:
                    self.commands.append([a.decode(errors="replace") for a in self.ARG.findall(line)])

    def stop(self) -> list[list[str]]:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.join(10)
        self.sock.close()
        return self.commands


@contextmanager
def shared_redis() -> Iterator[tuple[int, str]]:
    """A real redis-server on loopback with an admin password, as a class would run one."""
    port, password = free_port(), uuid.uuid4().hex
    directory = tempfile.mkdtemp(prefix="labkit-hub-redis-")
    server = subprocess.Popen(
        [str(find_server_binary()), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", directory, "--requirepass", password],
        stdout=subprocess.DEVNULL,
    )
    try:
        admin = redis.Redis(port=port, password=password, decode_responses=True)
        for _ in range(200):
            try:
                admin.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield port, password
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


PEEK = """
import redis
from labkit.redis.target import redis_target
client = redis_target().sync_client()
try:
    print(client.get(%r))
except redis.exceptions.NoPermissionError as exc:
    print('denied', exc)
try:
    client.flushall()
    print('flushed')
except redis.exceptions.NoPermissionError as exc:
    print('denied', exc)
"""


async def shared_class(hub: Hub, learners: list[Learner], monitor: Monitor) -> tuple[dict[str, list[dict]], str]:
    """Run the class on the shared server; then have the first learner try to read the second's key, and FLUSHALL."""
    kernels = await run_class(hub, learners)
    where = await probe_every_kernel(kernels)
    monitor.stop()
    peeked = await kernels[learners[0].name][-1].execute(PEEK % f"arl:{learners[1].name}:saved:0")
    for ks in kernels.values():
        for kernel in ks:
            kernel.close()
    return where, peeked


def test_shared_redis_with_per_learner_prefixes_on_a_hub() -> None:
    with shared_redis() as (port, password):
        admin = redis.Redis(port=port, password=password, decode_responses=True)

        def per_learner(learners: list[Learner]) -> dict[str, dict[str, str]]:
            env = {}
            for learner in learners:  # the README's recipe: one ACL user per learner, limited to its prefix
                secret = uuid.uuid4().hex  # and to commands that cannot reach the others (no FLUSHALL, MONITOR, ...)
                admin.acl_setuser(learner.name, enabled=True, passwords=[f"+{secret}"], keys=[f"arl:{learner.name}:*"],
                                  channels=["*"], commands=["+@all", "-@dangerous", "+info"])
                env[learner.name] = {"REDIS_URL": f"redis://{learner.name}:{secret}@127.0.0.1:{port}/0"}
            return env

        with class_on_hub(per_learner) as (hub, learners):
            seeded = {f"shop:cart:{i}": f"foreign {i}" for i in range(401)}
            for learner in learners:  # keys a learner saved earlier, outside any session's prefix
                seeded |= {f"arl:{learner.name}:saved:{i}": f"{learner.name} {i}" for i in range(10)}
            admin.mset(seeded)
            admin.acl_log_reset()
            monitor = Monitor(port, password)
            monitor.start()
            where, peeked = asyncio.run(shared_class(hub, learners, monitor))

            names = "|".join(learner.name for learner in learners)
            sessions = re.compile(f"arl:({names}):[0-9a-f]{{8}}:")
            for learner in learners:
                for seen in where[learner.name]:
                    assert seen["uid"] == learner.uid and seen["server_pid"] == 0, "no private server on REDIS_URL"
                    assert sessions.match(seen["prefix"]).group(1) == learner.name
            peek = f"arl:{learners[1].name}:saved:0"
            read, flush = peeked.splitlines()
            assert read.startswith("denied"), f"{learners[0].name} read {learners[1].name}'s key: {read}"
            assert flush.startswith("denied"), f"{learners[0].name} could FLUSHALL the class's server: {flush}"
            refused = {(entry["username"], entry["object"]) for entry in admin.acl_log()}
            deliberate = {(learners[0].name, peek), (learners[0].name, "flushall")}
            # The explorer asks for MONITOR to follow Lua scripts, and without it reads the keys they declare.
            fallbacks = {(learner.name, "monitor") for learner in learners}
            assert deliberate <= refused <= deliberate | fallbacks, \
                "only the deliberate peek and FLUSHALL, and the explorer's MONITOR, may be refused"
            assert admin.mget(list(seeded)) == list(seeded.values()), "a key the lab does not own was changed"
            commands = monitor.commands
            assert commands, "MONITOR saw nothing: the class did not use the shared server"
            assert not {"FLUSHALL", "FLUSHDB", "KEYS", "CONFIG", "SWAPDB"} & {c[0].upper() for c in commands if c}
            for command in commands:  # ACLs do not limit SCAN: each one must stay inside one lab session
                if command and command[0].upper() == "SCAN":
                    match = command[command.index("MATCH") + 1] if "MATCH" in command else ""
                    assert sessions.match(match), f"a SCAN beyond a lab session's prefix: {command}"

            hub.stop()
            assert_nothing_left(hub, learners, [s["kernel_pid"] for ss in where.values() for s in ss], [])
