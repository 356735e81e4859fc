"""``python -m labkit reset``: a clean slate before a demo or a class.

It reclaims what dead lab sessions left behind, and nothing that is still in
use. Everything is identified by what it is, never by a command-line substring:

* every temp entry the lab makes is named after its owner's pid
  (:mod:`labkit.scratch`); an entry whose owner is alive (a running kernel, a
  test run) is left alone, server and workers included;
* an orphan server's directory holds its guardian's own record (``guardian.pid``);
  a recorded pid is stopped only if that process still runs in the directory;
* an orphan worker's pid file names it; it is stopped only if it is a lab worker
  started by that dead owner (its environment says so).

With ``REDIS_URL`` set it also deletes this user's lab keys on that server: the
keys under the prefix namespace (``LABKIT_PREFIX``, or ``arl:<user>:``), which
always ends in ``:`` so ``team1`` never reaches ``team10:``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from ..redis.guardian import RECORD
from ..redis.target import PREFIX_ENV, URL_ENV, RedisTarget, check_reachable, masked, namespace
from ..scratch import owner_of, temp_root
from ..tasks.worker import PARENT_ENV

LEGACY_SERVER_DIRS = "labkit-redis-*"  # made before directories carried their owner's pid
LEGACY_MIN_AGE_S = 60.0  # younger ones may be a server still starting


@dataclass
class ResetReport:
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    deleted_keys: int = 0
    prefix: str = ""
    url: str = ""

    dry_run: bool = False

    def text(self) -> str:
        stopped, removed = ("would stop", "would remove") if self.dry_run else ("stopped", "removed")
        lines = [f"{stopped} {len(self.stopped)} orphaned process(es)"] + [f"  {p}" for p in self.stopped]
        lines.append(f"{removed} {len(self.removed)} orphaned temp entr{'y' if len(self.removed) == 1 else 'ies'}")
        lines += [f"  {p}" for p in self.removed]
        if self.kept:
            lines.append(f"left {len(self.kept)} temp entr{'y' if len(self.kept) == 1 else 'ies'} of live sessions alone")
        if self.prefix:
            deleted = "would delete" if self.dry_run else "deleted"
            lines.append(f"{deleted} {self.deleted_keys} key(s) under {self.prefix!r} on REDIS_URL={masked(self.url)}")
        return "\n".join(lines)


def owner_alive(pid: int) -> bool:
    """Is ``pid`` a running process (a zombie has finished)?"""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _recorded_pids(path: Path) -> list[int]:
    try:
        return [int(word) for word in path.read_text().split() if word.isdigit()]
    except OSError:
        return []


def _runs_in(proc: psutil.Process, directory: Path) -> bool:
    """A guardian or server works in its directory (the guardian chdirs there, Redis by ``--dir``)."""
    return Path(proc.cwd()).resolve() == directory.resolve()


def _is_worker_of(proc: psutil.Process, owner: int) -> bool:
    """A lab worker process started by ``owner`` (procs.py puts its pid in the worker's environment)."""
    return proc.environ().get(PARENT_ENV) == str(owner) and "labkit.tasks.worker" in proc.cmdline()


def orphan_processes(entry: Path, kind: str, owner: int) -> list[psutil.Process]:
    """The still-running processes an orphaned temp entry records, checked to be what it says."""
    if kind == "redis":
        pids, belongs = _recorded_pids(entry / RECORD), lambda p: _runs_in(p, entry)
    elif kind == "worker" and entry.suffix == ".pid":
        pids, belongs = _recorded_pids(entry), lambda p: _is_worker_of(p, owner)
    else:
        return []
    found = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.uids().real == os.getuid() and belongs(proc):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def stop_processes(processes: list[psutil.Process], grace_s: float = 3.0) -> None:
    """SIGTERM, then SIGKILL whatever is still running after ``grace_s``."""
    for proc in processes:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, still = psutil.wait_procs(processes, timeout=grace_s)
    for proc in still:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(still, timeout=grace_s)


def _remove(entry: Path) -> None:
    if entry.is_dir():
        shutil.rmtree(entry, ignore_errors=True)
    else:
        entry.unlink(missing_ok=True)


def _answers(socket_path: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(str(socket_path))
            return True
        except OSError:
            return False


def _legacy_dead_server(entry: Path) -> bool:
    """An old-style server directory: reclaimed only if nothing answers on its socket and it is not new."""
    if not entry.is_dir() or time.time() - entry.stat().st_mtime < LEGACY_MIN_AGE_S:
        return False
    sock = entry / "redis.sock"
    return not (sock.exists() and _answers(sock))


def reset_temp(report: ResetReport, root: Path | None = None, dry_run: bool = False) -> None:
    """Stop and remove what dead sessions left in the temp dir; keep what live ones use."""
    root = root or temp_root()
    me = os.getuid()
    for entry in sorted(root.glob("labkit-*")):
        try:
            if entry.lstat().st_uid != me:
                continue
        except OSError:
            continue
        owned = owner_of(entry)
        if owned is None:
            if entry.match(LEGACY_SERVER_DIRS) and _legacy_dead_server(entry):
                report.removed.append(str(entry))
                if not dry_run:
                    _remove(entry)
            continue
        kind, owner = owned
        if owner_alive(owner):
            report.kept.append(str(entry))
            continue
        processes = orphan_processes(entry, kind, owner)
        report.stopped += [f"{p.pid} ({kind} of dead owner {owner})" for p in processes]
        report.removed.append(str(entry))
        if not dry_run:
            stop_processes(processes)
            _remove(entry)


def _default_user_prefix() -> str:
    try:
        return f"arl:{getpass.getuser()}:"
    except Exception:  # no user name in some containers
        return "arl:user:"


def reset_keys(report: ResetReport, dry_run: bool = False) -> None:
    """On a shared ``REDIS_URL`` server: delete this user's lab keys (one prefix namespace), nothing else."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        check_reachable(url)  # a wrong URL is one clear line, not a traceback
        report.url = url
        report.prefix = namespace(os.environ.get(PREFIX_ENV) or _default_user_prefix())
        target = RedisTarget(url, report.prefix)
        report.deleted_keys = len(target.own_keys()) if dry_run else target.cleanup()


def reset(dry_run: bool = False, root: Path | None = None) -> ResetReport:
    """Reclaim orphaned lab processes and temp entries; clear this user's keys on REDIS_URL."""
    report = ResetReport(dry_run=dry_run)
    reset_temp(report, root, dry_run)
    reset_keys(report, dry_run)
    return report
