"""Notebook 02's live demos: what breaks when a sync/async boundary moves.

Each demo returns a small result object with the measured facts (did the work
run? what did Python say?) that prints itself, so the notebook only narrates.
Nothing here runs ``asyncio.run`` on the kernel's loop or touches the kernel's
signal handlers: the loop demo uses its own thread, the signal demo a real
subprocess.
"""

from __future__ import annotations

import asyncio
import gc
import html
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field

from ..markup import inline_html

SIGNAL_MODES = ("stop-event", "async-handler")


@dataclass(frozen=True)
class Outcome:
    """What one demo measured, as plain facts plus a one-line verdict."""

    title: str
    facts: dict[str, object]
    verdict: str
    ok: bool
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        lines = [f"{self.title}: {self.verdict}"]
        lines += [f"  {name}: {value}" for name, value in self.facts.items()]
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = "#2e7d32" if self.ok else "#c62828"
        rows = "".join(
            f"<tr><td style='text-align:left'>{html.escape(k)}</td>"
            f"<td style='text-align:left'><code>{html.escape(str(v))}</code></td></tr>"
            for k, v in self.facts.items()
        )
        notes = "".join(f"<div style='color:#555'>{inline_html(n)}</div>" for n in self.notes)
        return (
            f"<div style='border-left:6px solid {colour};padding:6px 12px'>"
            f"<b>{html.escape(self.title)}</b>: {html.escape(self.verdict)}"
            f"<table>{rows}</table>{notes}</div>"
        )


def made_async_demo() -> Outcome:
    """A save handler that sync code calls, before and after someone makes it ``async``.

    Runs entirely in sync code (like the real callers), so nothing is awaited.
    """
    saved: list[str] = []

    def save_sync(doc: str) -> bool:
        saved.append(doc)
        return True

    async def save_async(doc: str) -> bool:
        saved.append(doc)
        return True

    def on_click(save, doc: str) -> str:  # the unchanged sync caller
        if save(doc):
            return "saved"
        return "not saved"

    sync_reply = on_click(save_sync, "report-1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async_reply = on_click(save_async, "report-2")
        gc.collect()  # the dropped coroutine is finalised here, which raises the warning
    warning = next((str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)), "(none)")
    return Outcome(
        "made async, callers still sync",
        {
            "sync version: caller says": sync_reply,
            "async version: caller says": async_reply,
            "documents actually saved": saved,
            "Python's warning": warning,
        },
        "the caller reports success, but report-2 was never saved",
        ok="report-2" in saved,
        notes=["A coroutine object is truthy, so `if save(doc):` passes; its body never ran."],
    )


def run_inside_running_loop() -> Outcome:
    """Call ``asyncio.run`` from code that is already on a running loop, in a private thread."""
    box: dict[str, str] = {}

    async def inner() -> str:
        return "inner result"

    async def handler() -> None:
        coro = inner()
        try:
            box["result"] = asyncio.run(coro)  # labkit: ignore[R2] - the mistake this demo shows
        except RuntimeError as exc:
            coro.close()
            box["error"] = f"RuntimeError: {exc}"
        box["fixed"] = await inner()

    def main() -> None:
        asyncio.run(handler())

    thread = threading.Thread(target=main, name="labkit-run-in-loop", daemon=True)
    thread.start()
    thread.join(timeout=5)
    return Outcome(
        "asyncio.run inside a running loop",
        {"asyncio.run(...) gave": box.get("error", box.get("result", "(nothing)")),
         "await inner() gave": box.get("fixed", "(nothing)")},
        "asyncio.run refuses: the loop is already running; just await",
        ok="error" in box,
    )


def signal_demo(mode: str = "stop-event", grace_s: float = 2.0) -> Outcome:
    """Start a real worker process, send it SIGTERM, and see whether it stops cleanly.

    ``mode`` is ``stop-event`` (a plain handler sets a stop event) or
    ``async-handler`` (an ``async def`` given to ``signal.signal``).
    """
    if mode not in SIGNAL_MODES:
        raise ValueError(f"mode must be one of {', '.join(SIGNAL_MODES)}, got {mode!r}")
    if not (isinstance(grace_s, (int, float)) and 0 < grace_s <= 30):
        raise ValueError(f"grace_s must be a number of seconds in (0, 30], got {grace_s!r}")
    if not hasattr(signal, "SIGTERM") or os.name == "nt":
        raise RuntimeError("the signal demo needs a POSIX system (Linux or macOS)")
    env = {**os.environ, "PYTHONWARNINGS": "always", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "labkit.lessons.signal_worker", mode],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        ready = proc.stdout.readline().strip() if proc.stdout else ""
        if ready != "ready":
            raise RuntimeError(f"the worker did not start: {ready or proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.2)
        sent = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=grace_s)
            stopped_in = f"{time.perf_counter() - sent:.2f} s"
            killed = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=5)
            stopped_in, killed = f"still running after {grace_s:g} s, so it was killed", True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
    warning = next((line.strip() for line in err.splitlines() if "never awaited" in line), "(none)")
    clean = not killed and "stopped cleanly" in out
    return Outcome(
        f"SIGTERM to a worker ({mode})",
        {"worker said": out.strip().splitlines()[-1] if out.strip() else "(nothing)",
         "stopped": stopped_in, "warning on stderr": warning},
        "stopped cleanly at the end of a step" if clean else "the handler never reached the loop",
        ok=clean,
    )
