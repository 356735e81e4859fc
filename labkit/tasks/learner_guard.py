"""The worker-process half of running a learner's function from a notebook.

A check writes the learner's function, and what it reads, into a module
(:mod:`labkit.exercises.learner_code`); that module defines each function under
its notebook cell's file name and line numbers, so a traceback points at the
learner's own line, and wraps the function the worker calls. What goes wrong
in learner code is appended as JSON lines to :data:`REPORT` beside the module,
where the check reads it: an exception that left learner code (its last line,
the learner's innermost line, the full traceback), or a plain ``def`` that has
not returned a second after the worker called it, with the line it is at.

Standard library only: it runs inside every worker that loads learner code.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import linecache
import os
import sys
import threading
import traceback
from types import FrameType, TracebackType
from typing import Any, Callable

REPORT = "learner-report.jsonl"
#: A plain ``def`` the worker calls (install handlers, start a heartbeat) must return at once.
SLOW_S = 1.0

_lines: dict[str, list[str]] = {}  # learner file name -> its lines, as far as we know them
_report_path = ""


def _worker() -> str:
    argv = sys.argv
    return argv[argv.index("--id") + 1] if "--id" in argv[:-1] else str(os.getpid())


def _write(record: dict[str, Any]) -> None:
    if _report_path:
        with open(_report_path, "a", encoding="utf-8") as out:
            out.write(json.dumps({"worker": _worker(), **record}) + "\n")


def _learner(frames: list[traceback.FrameSummary], innermost: bool = True) -> traceback.FrameSummary | None:
    mine = [f for f in frames if f.filename in _lines]
    return (mine[-1] if innermost else mine[0]) if mine else None


def _report_exception(exc: BaseException, function: str, tb: TracebackType | None = None) -> None:
    frames = traceback.extract_tb(tb or exc.__traceback__)
    where = _learner(frames)
    _write({"kind": "raised", "function": function, "type": type(exc).__name__,
            "message": str(exc) if not isinstance(exc, SystemExit) else repr(exc.code),
            "line": where.lineno if where else None, "code": (where.line or "") if where else "",
            "traceback": "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))})


def _report_stuck(ident: int, function: str) -> None:
    frame: FrameType | None = sys._current_frames().get(ident)
    stack = traceback.extract_stack(frame) if frame is not None else []
    where = _learner(list(stack), innermost=False)  # the line of the function the worker called
    _write({"kind": "stuck", "function": function, "after_s": SLOW_S,
            "line": where.lineno if where else None, "code": (where.line or "") if where else "",
            "traceback": "".join(traceback.format_list(stack))})


def define(namespace: dict[str, Any], source: str, filename: str, first_line: int) -> None:
    """Run one function's (or class's) source under its own file name and line numbers."""
    lines = _lines.setdefault(filename, [])
    body = source.splitlines(keepends=True)
    lines.extend(["\n"] * max(0, first_line - 1 + len(body) - len(lines)))
    lines[first_line - 1:first_line - 1 + len(body)] = body
    linecache.cache[filename] = (sum(map(len, lines)), None, lines, filename)  # no mtime: kept by checkcache
    exec(compile("\n" * (first_line - 1) + source, filename, "exec"), namespace)


def start(module_file: str) -> None:
    """Report into the module's directory, also what escapes in threads or at the top level."""
    global _report_path
    _report_path = os.path.join(os.path.dirname(os.path.abspath(module_file)), REPORT)
    previous_thread_hook, previous_hook = threading.excepthook, sys.excepthook

    def thread_hook(args: Any) -> None:
        if args.exc_value is not None and _learner(traceback.extract_tb(args.exc_traceback)):
            _report_exception(args.exc_value, f"thread {args.thread.name if args.thread else '?'}",
                              args.exc_traceback)
        previous_thread_hook(args)

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if _learner(traceback.extract_tb(tb)):
            _report_exception(value, "your code", tb)
        previous_hook(kind, value, tb)

    threading.excepthook, sys.excepthook = thread_hook, hook


def guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the function the worker calls so that what escapes it is reported first."""
    name = fn.__name__
    passing = (asyncio.CancelledError, KeyboardInterrupt)  # how the worker stops a task; what signals raise

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except passing:
                raise
            except BaseException as exc:
                _report_exception(exc, name)  # labkit: ignore[R1] one line appended as the learner's code fails, then it re-raises
                raise

        return run

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        ident, reported = threading.get_ident(), threading.Event()

        def stuck() -> None:
            _report_stuck(ident, name)
            reported.set()

        watch = threading.Timer(SLOW_S, stuck)
        watch.daemon = True
        watch.start()
        try:
            return fn(*args, **kwargs)
        except passing:
            raise
        except BaseException as exc:
            _report_exception(exc, name)
            raise
        finally:
            watch.cancel()
            if reported.is_set():
                _write({"kind": "returned", "function": name})

    return call
