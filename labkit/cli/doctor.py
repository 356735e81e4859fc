"""Preflight for learners and instructors: is this machine ready for the lab?

``python -m labkit doctor`` prints one row per check with the fix for each
failure and exits non-zero if any check failed. Notebook 00 shows the same
report inline.
"""

from __future__ import annotations

import html
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

MIN_PYTHON = (3, 10)


@dataclass(frozen=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass
class DoctorReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)

    def text(self) -> str:
        width = max(len(f.name) for f in self.findings)
        lines = []
        for f in self.findings:
            lines.append(f"{'OK  ' if f.ok else 'FAIL'}  {f.name:<{width}}  {f.detail}")
            if not f.ok and f.fix:
                lines.append(f"{'':4}  {'':<{width}}  fix: {f.fix}")
        verdict = "All checks passed." if self.ok else f"{sum(not f.ok for f in self.findings)} check(s) failed."
        return "\n".join(lines + ["", verdict])

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td style='color:{'#2e7d32' if f.ok else '#c62828'};font-weight:bold'>"
            f"{'OK' if f.ok else 'FAIL'}</td><td style='text-align:left'>{html.escape(f.name)}</td>"
            f"<td style='text-align:left'>{html.escape(f.detail)}"
            f"{'' if f.ok or not f.fix else '<br><b>fix:</b> ' + html.escape(f.fix)}</td></tr>"
            for f in self.findings
        )
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("", "check", "result"))
        return f"<table class='labkit-doctor'><tr>{head}</tr>{rows}</table>"


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] >= MIN_PYTHON:
        return Finding("python", True, f"Python {version}")
    return Finding("python", False, f"Python {version} is too old", "install Python 3.10 or newer and re-run `make lab`")


def check_packages() -> Finding:
    """Every runtime requirement of labkit is installed at a version it accepts."""
    from packaging.requirements import Requirement

    problems, seen = [], []
    for line in metadata.requires("labkit") or []:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{req.name} missing")
            continue
        if installed not in req.specifier:
            problems.append(f"{req.name} {installed} (need {req.specifier})")
        seen.append(f"{req.name} {installed}")
    if problems:
        return Finding("packages", False, "; ".join(problems), "run `make lab` (or `pip install -e .`) to install them")
    return Finding("packages", True, ", ".join(seen))


def check_redis() -> Finding:
    """A server starts (or REDIS_URL answers) and does PING, EVAL and WATCH/MULTI/EXEC."""
    import redis

    from ..errors import LabError
    from ..redis.target import redis_target

    try:
        target = redis_target().child(f"doctor-{uuid.uuid4().hex[:6]}")
    except LabError as exc:
        detail, _, fix = str(exc).partition(" Install one of:")
        return Finding("redis", False, detail.splitlines()[0], ("Install one of:" + fix) if fix else _redis_fix())
    where = f"embedded {target.server.binary.name} {target.server.version}" if target.server else "REDIS_URL"
    key = target.key("probe")
    try:
        with target.sync_client(socket_timeout=5) as client, target.sync_client(socket_timeout=5) as other:
            client.ping()
            if client.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, key, "1") not in ("OK", b"OK"):
                return Finding("redis", False, f"{where}: EVAL did not run a Lua script", "use Redis 6.2+ or Valkey 7+")
            with client.pipeline() as pipe:
                pipe.watch(key)
                other.set(key, "changed")  # a concurrent write must abort the transaction
                pipe.multi()
                pipe.set(key, "mine")
                try:
                    pipe.execute()
                    return Finding("redis", False, f"{where}: WATCH did not abort a conflicting MULTI/EXEC", "use a real Redis server, not an emulator")
                except redis.WatchError:
                    pass
    except (redis.RedisError, OSError) as exc:
        return Finding("redis", False, f"{where}: {exc}", "run `python -m labkit reset`, then try again")
    finally:
        try:
            target.cleanup()
        except (redis.RedisError, OSError):
            pass
    started = f", started in {target.server.started_in_s * 1000:.0f} ms" if target.server else ""
    return Finding("redis", True, f"{where}: PING, EVAL, WATCH/MULTI/EXEC work{started}")


def _redis_fix() -> str:
    return "unset REDIS_URL to use the lab's own server, or fix the URL"


def check_widgets_extension() -> Finding:
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        manifest = Path(base) / "@jupyter-widgets" / "jupyterlab-manager" / "package.json"
        if manifest.is_file():
            return Finding("widgets", True, f"JupyterLab widget manager at {manifest.parent}")
    return Finding(
        "widgets",
        False,
        "the ipywidgets JupyterLab extension (jupyterlab_widgets) is not installed",
        "pip install jupyterlab_widgets (it comes with ipywidgets 8), then restart JupyterLab",
    )


def check_kernel() -> Finding:
    """A python3 kernel exists and its interpreter can import labkit."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return Finding("kernel", False, "no python3 Jupyter kernel", "pip install ipykernel")
    executable = spec.argv[0]
    if executable in {"python", f"python{sys.version_info[0]}", "python%d.%d" % sys.version_info[:2]}:
        executable = sys.executable
    try:
        probe = subprocess.run([executable, "-c", "import labkit"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Finding("kernel", False, f"python3 kernel at {executable} does not run: {exc}", "pip install ipykernel")
    if probe.returncode != 0:
        return Finding(
            "kernel", False, f"the python3 kernel ({executable}) cannot import labkit",
            f"install the lab into that interpreter: {executable} -m pip install -e .",
        )
    return Finding("kernel", True, f"python3 kernel: {executable}")


CHECKS: tuple[Callable[[], Finding], ...] = (
    check_python, check_packages, check_redis, check_widgets_extension, check_kernel,
)


def run_doctor() -> DoctorReport:
    report = DoctorReport()
    for check in CHECKS:
        try:
            report.findings.append(check())
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            report.findings.append(Finding(check.__name__.removeprefix("check_"), False, f"{type(exc).__name__}: {exc}"))
    return report
