"""``python -m labkit reset``: a clean slate before a demo or a class.

It stops this user's stray lab processes (embedded Redis servers, their
guardians, worker processes), removes the temp directories they left, and, when
``REDIS_URL`` points at a shared server, deletes this user's lab keys there and
nothing else. Running kernels simply start a fresh server on their next use.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..redis.target import PREFIX_ENV, URL_ENV, RedisTarget

MARKERS = ("labkit/redis/guardian.py", "labkit-redis-", "-m labkit.tasks.worker")


@dataclass
class ResetReport:
    stopped: list[str] = field(default_factory=list)
    removed_dirs: list[str] = field(default_factory=list)
    deleted_keys: int = 0
    prefix: str = ""

    def text(self) -> str:
        lines = [f"stopped {len(self.stopped)} process(es)"] + [f"  {p}" for p in self.stopped]
        lines.append(f"removed {len(self.removed_dirs)} temp dir(s)")
        if self.prefix:
            lines.append(f"deleted {self.deleted_keys} key(s) under {self.prefix!r} on REDIS_URL")
        return "\n".join(lines)


def lab_processes() -> list[tuple[int, str]]:
    """This user's processes that belong to the lab (never this one)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,uid=,args="], capture_output=True, text=True, check=True).stdout
    me, uid = os.getpid(), os.getuid()
    found = []
    for line in listing.splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        pid, owner, args = int(parts[0]), int(parts[1]), parts[2]
        if pid != me and owner == uid and any(m in args for m in MARKERS):
            found.append((pid, args))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def stop_processes(processes: list[tuple[int, str]], grace_s: float = 3.0) -> None:
    for pid, _ in processes:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(pid) for pid, _ in processes):
        time.sleep(0.05)
    for pid, _ in processes:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _default_user_prefix() -> str:
    try:
        return f"arl:{getpass.getuser()}:"
    except Exception:  # no user name in some containers
        return "arl:user:"


def reset_keys(report: ResetReport, dry_run: bool = False) -> None:
    """On a shared ``REDIS_URL`` server: delete this user's lab keys, nothing else."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        report.prefix = os.environ.get(PREFIX_ENV) or _default_user_prefix()
        target = RedisTarget(url, report.prefix)
        report.deleted_keys = len(target.own_keys()) if dry_run else target.cleanup()


def reset(dry_run: bool = False) -> ResetReport:
    """Stop every lab process of this user, remove their temp dirs, clear keys on REDIS_URL."""
    report = ResetReport()
    processes = lab_processes()
    report.stopped = [f"{pid} {args[:100]}" for pid, args in processes]
    if not dry_run:
        stop_processes(processes)
    for directory in Path(tempfile.gettempdir()).glob("labkit-redis-*"):
        if directory.is_dir() and directory.stat().st_uid == os.getuid():
            report.removed_dirs.append(str(directory))
            if not dry_run:
                shutil.rmtree(directory, ignore_errors=True)
    reset_keys(report, dry_run)
    return report
