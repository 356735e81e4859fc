"""Run one checker, with the learner's code in it, where it can be watched, capped and stopped.

A check runs inside the learner's kernel, so the learner's code can do what
kills or floods a kernel: loop forever, call ``sys.exit()``, print megabytes.
:class:`CheckRun` runs the checker on its own event loop in a daemon thread
(the kernel's loop stays free, a time limit can give up on it), caps what that
thread and the threads it starts print, and when the limit passes, cancels the
checker's tasks (which also kills any worker processes it started) and raises
an exception inside every thread still running the learner's code. Python
cannot interrupt a thread stuck inside a C call; such a thread stays a
*runaway*, and every later check says so, since it competes for the CPU.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import itertools
import os
import sys
import sysconfig
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TextIO

#: Characters of output a check lets through to the notebook.
OUTPUT_CAP = 20_000
#: How long the next check waits, once, for learner code a check could not stop to end on its own.
RUNAWAY_PATIENCE_S = 3.0
_LABKIT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
_LIBRARY_DIRS = tuple({os.path.abspath(p) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
                       if (p := sysconfig.get_paths().get(key))} | {_LABKIT_DIR})
_numbers = itertools.count(1)


class Abandoned(BaseException):
    """Raised inside a thread still running learner code after its check gave up on it."""


class Escaped(Exception):
    """A ``SystemExit``, ``KeyboardInterrupt`` or ``CancelledError`` from learner code, carried to the card."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original
        self.__traceback__ = original.__traceback__


def is_learner_file(filename: str) -> bool:
    """Code that is neither labkit's nor a library's: a notebook cell, or a test playing one."""
    path = os.path.abspath(filename)
    return not filename.startswith("<") and not path.startswith(_LIBRARY_DIRS)


def learner_frames(frames: list[traceback.FrameSummary], checker: tuple[str, str] = ("", "")) -> list[traceback.FrameSummary]:
    """The frames of learner code: not labkit's, not a library's, not the checker function's own."""
    return [f for f in frames if is_learner_file(f.filename) and (f.filename, f.name) != checker]


def where(frame: traceback.FrameSummary | None) -> str:
    if frame is None:
        return ""
    return f" (line {frame.lineno}: {frame.line})" if frame.line else f" (line {frame.lineno})"


def _stack_of(thread: threading.Thread) -> list[traceback.FrameSummary]:
    frame = sys._current_frames().get(thread.ident or -1)
    return list(traceback.extract_stack(frame)) if frame is not None else []


class CappedOutput:
    """Stands in for ``sys.stdout``/``sys.stderr`` during a check: the kernel's own thread
    writes through, other threads (the check and what it starts) get ``OUTPUT_CAP`` characters."""

    def __init__(self, stream: TextIO, owner: int) -> None:
        self.stream, self.owner = stream, owner
        self.written = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        if threading.get_ident() == self.owner:
            return self.stream.write(text)
        with self._lock:
            room = max(0, OUTPUT_CAP - self.written)
            self.written += len(text)
        if room:
            self.stream.write(text[:room])
            if len(text) > room:
                self.stream.write(f"\n[labkit: output cut after {OUTPUT_CAP:,} characters; the card says how much "
                                  "more there was]\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@dataclass
class Runaway:
    """Learner code a check could not stop: it still runs in this kernel."""

    exercise: str
    threads: list[threading.Thread]
    where: str
    waited: bool = False  # a later check already gave it its moment to end

    def alive(self) -> bool:
        return any(t.is_alive() for t in self.threads)


_runaways: list[Runaway] = []
_retired: list[CappedOutput] = []  # see CheckRun.restore_output


def runaway_note() -> str:
    """A first line for every card while an earlier check's code still runs here, or ``""``."""
    _runaways[:] = [r for r in _runaways if r.alive()]
    if not _runaways:
        return ""
    which = ", ".join(f"{r.exercise}{r.where}" for r in _runaways)
    return (f"Note: your code from an earlier check is still running in this kernel ({which}); it competes for the "
            "CPU, so timings in this check may be off. Restart the kernel (Kernel > Restart Kernel) to end it, "
            "then re-run the cells you need.\n")


async def settle_runaways(patience_s: float = RUNAWAY_PATIENCE_S) -> str:
    """Before a check: give a new runaway a moment to end on its own (a long sleep does), then :func:`runaway_note`."""
    fresh = [r for r in _runaways if not r.waited]
    deadline = time.monotonic() + patience_s
    while fresh and any(r.alive() for r in fresh) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for runaway in fresh:
        runaway.waited = True
    return runaway_note()


@dataclass
class CheckRun:
    """One checker on its own loop in a daemon thread, for one exercise."""

    exercise: str
    checker: Callable[[], Awaitable[str]]
    checker_code: tuple[str, str] = ("", "")  # (file, function) of the checker: not learner code
    name: str = field(default_factory=lambda: f"labkit-check-{next(_numbers)}")
    future: "concurrent.futures.Future[str]" = field(default_factory=concurrent.futures.Future)
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None
    before: set[int] = field(default_factory=set)
    streams: list[CappedOutput] = field(default_factory=list)

    def start(self) -> None:
        self.before = {t.ident for t in threading.enumerate() if t.ident is not None}
        owner = threading.get_ident()
        self.streams = [CappedOutput(sys.stdout, owner), CappedOutput(sys.stderr, owner)]
        sys.stdout, sys.stderr = self.streams  # type: ignore[assignment]
        self.thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        async def body() -> str:
            self.loop = asyncio.get_running_loop()
            self.loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(thread_name_prefix=self.name))
            return await self.checker()

        try:
            self.future.set_result(asyncio.run(body()))
        except BaseException as exc:  # noqa: BLE001 - everything goes to the card, nothing to the kernel
            if not self.future.done():
                self.future.set_exception(exc if isinstance(exc, Exception) else Escaped(exc))

    def restore_output(self) -> int:
        """Put the kernel's streams back; how many characters the capped threads printed past the cap.

        The stand-ins are kept alive for good: ``print()`` in another thread may still hold one
        without a reference of its own (CPython reads ``sys.stdout`` as a borrowed reference),
        and freeing it under that thread crashes the interpreter.
        """
        _retired.extend(self.streams)
        for stream, name in zip(self.streams, ("stdout", "stderr")):
            if getattr(sys, name) is stream:
                setattr(sys, name, stream.stream)
                continue
            outer = getattr(sys, name)  # a check that started after this one wraps ours: unlink ours
            while isinstance(outer, CappedOutput):
                if outer.stream is stream:
                    outer.stream = stream.stream
                    break
                outer = outer.stream
        return sum(max(0, s.written - OUTPUT_CAP) for s in self.streams)

    def _learner_threads(self) -> list[tuple[threading.Thread, traceback.FrameSummary]]:
        """Threads this check started that are running learner code now, with the learner's line."""
        found = []
        for thread in threading.enumerate():
            if thread.ident in self.before or thread is threading.current_thread():
                continue
            mine = learner_frames(_stack_of(thread), self.checker_code)
            if mine:
                found.append((thread, mine[-1]))
        return found

    async def stop(self, grace_s: float = 0.25, cleanup_s: float = 2.0) -> Runaway | None:
        """Give up on the check: cancel its tasks (its ``finally`` blocks kill its worker processes),
        interrupt its threads running learner code; what still runs after ``grace_s`` is a runaway."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(_cancel_all, loop)
            except RuntimeError:  # closed between the test and the call
                pass
        began = time.monotonic()
        while True:
            running = self._learner_threads()
            waited = time.monotonic() - began
            if running and waited > grace_s:
                runaway = Runaway(self.exercise, [t for t, _ in running], where(running[0][1]))
                _runaways.append(runaway)
                return runaway
            if not running and (waited > cleanup_s or not (self.thread and self.thread.is_alive())):
                return None
            for thread, _ in running:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident or 0),
                                                           ctypes.py_object(Abandoned))
            await asyncio.sleep(0.02)

    def stuck_at(self) -> str:
        running = self._learner_threads()
        return where(running[0][1]) if running else ""


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        task.cancel()


def describe_crash(exc: BaseException, checker: tuple[str, str] = ("", "")) -> tuple[str, str]:
    """(hint, full traceback) for an exception out of a check, pointing at the learner's own line.

    An error with no learner line in its traceback came from the check's own code,
    working on what the learner's function returned: the hint says so.
    """
    original = exc.original if isinstance(exc, Escaped) else exc
    details = "".join(traceback.format_exception(type(original), original, original.__traceback__))
    if isinstance(original, NotImplementedError):
        return "Your answer still raises NotImplementedError: replace the stub with your code.", details
    mine = learner_frames(traceback.extract_tb(original.__traceback__), checker)
    at = where(mine[-1] if mine else None)
    if isinstance(original, SystemExit):
        return (f"Your code called sys.exit({original.code!r}){at}. Inside a notebook that would stop the check "
                "(and a script, the whole process): return a value instead."), details
    if isinstance(original, KeyboardInterrupt):
        return f"Your code raised KeyboardInterrupt{at}: end it by returning, not by interrupting.", details
    if isinstance(original, asyncio.CancelledError):
        return (f"Your code was cancelled{at} (asyncio.CancelledError): did it cancel its own task, or await a task "
                "it had cancelled?"), details
    if not mine:
        return (f"The check failed on what your function gave it: {type(original).__name__}: {original}. This error "
                "comes from the check's own code, not from a line of yours: make sure your function returns (or "
                "calls) what the exercise asks for."), details
    return f"Your code raised {type(original).__name__}: {original}{at}", details
