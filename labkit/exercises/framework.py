"""Exercise checks: run the learner's code against the real mechanism, report a card.

An exercise is an async *checker* registered under an id::

    @exercise("00.gather", title="Run three calls at once", time_limit=10)
    async def gather_check(answer) -> str:
        ...                       # call the learner's code, measure it
        raise NotYet("specific hint")   # or
        return "what was measured"      # a pass

A learner runs it with ``await labkit.check("00.gather", fetch_all)`` and sees a
pass card or a "not yet" card with the hint.

A hint gives the idea first. When a checker also knows the code that fixes the
mistake (``NotYet(idea, code=...)``), the card keeps it back the first time and
says so; asking again (running the check again and getting the same hint) shows it.
A learner who only needed the idea is not handed the answer.

The checker runs on its own event loop in a daemon thread
(:mod:`.running`). That keeps the kernel's loop free while learner code runs
(a learner's ``time.sleep`` cannot freeze the notebook), lets a time limit stop
code that never returns, caps what it prints, turns ``sys.exit()`` and
``KeyboardInterrupt`` into cards, and gives timing-based checks a quiet loop.

``LABKIT_CHECK_MODE`` turns cards into assertions for automated runs:
``strict`` raises :class:`CheckFailed` when a check does not pass (solution
notebooks), ``expect-unsolved`` raises when a check *does* pass (learner
notebooks still holding their stubs).
"""

from __future__ import annotations

import asyncio
import html
import inspect
import json
import os
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from ..errors import CheckFailed, LabError
from ..markup import inline_html
from .running import OUTPUT_CAP, CheckRun, describe_crash, settle_runaways

MODE_ENV = "LABKIT_CHECK_MODE"
#: When set, every check appends its outcome to this file as a JSON line
#: (``python -m labkit progress`` reads it).
PROGRESS_ENV = "LABKIT_PROGRESS_FILE"
MODES = ("", "strict", "expect-unsolved")

Checker = Callable[[Any], Awaitable[str]]


class NotYet(Exception):
    """Raised by a checker: the answer is wrong; the message is the hint.

    ``details`` (a full traceback, say) is kept folded in the card, below the hint.
    ``code`` spells the fix out; the card shows it only on a second ask (see the module docstring).
    """

    def __init__(self, message: str, details: str = "", code: str = "") -> None:
        super().__init__(message)
        self.details = details
        self.code = code


#: How often each (exercise, code) hint has been shown in this kernel.
_asked: dict[tuple[str, str], int] = {}
ASK_AGAIN = "Still stuck? Run this check again and the card will show the code."


def forget_hints() -> None:
    """Start every hint over at its idea (a fresh kernel does the same)."""
    _asked.clear()


def _code_to_show(exercise_id: str, code: str) -> tuple[str, bool]:
    """(code to show, whether code was kept back): nothing the first time a hint is given, the code after."""
    if not code:
        return "", False
    key = (exercise_id, code)
    _asked[key] = _asked.get(key, 0) + 1
    return (code, False) if _asked[key] > 1 else ("", True)


def reject_call_result(answer: Any, usage: str) -> None:
    """``check(..., f())`` instead of ``check(..., f)``: say so, and close the stray coroutine."""
    if inspect.iscoroutine(answer):
        answer.close()  # never awaited on purpose: do not let Python warn about it later
        raise NotYet(f"You passed the result of a call. Pass the function itself: {usage} (no parentheses).")


def require_function(answer: Any, usage: str, *, is_async: bool | None, why: str = "", what: str = "") -> None:
    """The first gate of every checker: the learner passed their function itself
    (not a call's result, not its name), async or sync as its callers need.

    ``usage`` shows the right call, e.g. ``check('00.fetch-all', fetch_all)``;
    ``why`` is the hint when the function has the wrong colour.
    """
    reject_call_result(answer, usage)
    if not callable(answer):
        kind = f"{what} function" if what else "function"
        raise NotYet(f"Pass your {kind} itself: {usage}, not {type(answer).__name__}.")
    if is_async is None:
        return
    coroutine_fn = inspect.iscoroutinefunction(answer) or inspect.iscoroutinefunction(getattr(answer, "__call__", None))
    if coroutine_fn != is_async:
        raise NotYet(why or f"This function should {'be' if is_async else 'not be'} an `async def`.")


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    checker: Checker
    time_limit: float


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check; shows itself as a card in a notebook."""

    exercise: str
    title: str
    passed: bool
    message: str
    seconds: float
    details: str = ""
    code: str = ""  # the fix spelled out, once the learner asked twice
    code_kept_back: bool = False  # a code hint exists, not shown yet

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        mark = "PASS" if self.passed else "NOT YET"
        return f"[{mark}] {self.exercise} {self.title}: {self.message}{self._code_text()}"

    def _code_text(self) -> str:
        if self.code:
            return f"\nThe code: {self.code}"
        return f"\n{ASK_AGAIN}" if self.code_kept_back else ""

    def _repr_html_(self) -> str:
        if self.passed:
            colour, border, label = "#e8f5e9", "#2e7d32", "&#10004; Passed"
        else:
            colour, border, label = "#fff8e1", "#f9a825", "&#9998; Not yet"
        return (
            f'<div class="labkit-check" data-passed="{str(self.passed).lower()}" '
            f'style="background:{colour};border-left:6px solid {border};'
            f'padding:8px 12px;margin:4px 0;font-size:1.05em">'
            f"<b>{label}</b> &mdash; {html.escape(self.exercise)}: {html.escape(self.title)}"
            f'<div style="margin-top:4px;white-space:pre-wrap">{inline_html(self.message)}</div>'
            + (f'<div class="labkit-hint-code" style="margin-top:4px"><b>The code:</b> {inline_html(self.code)}</div>'
               if self.code else "")
            + (f'<div class="labkit-hint-ask" style="margin-top:4px;color:#555"><i>{ASK_AGAIN}</i></div>'
               if self.code_kept_back else "")
            + (f'<details style="margin-top:4px"><summary>Full traceback</summary>'
               f'<pre style="font-size:0.85em">{html.escape(self.details)}</pre></details>' if self.details else "")
            +
            f'<div style="color:#666;font-size:0.85em">checked in {self.seconds:.2f} s</div></div>'
        )


_registry: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, title: str, time_limit: float = 10.0) -> Callable[[Checker], Checker]:
    """Register an async checker under ``exercise_id``."""

    def register(checker: Checker) -> Checker:
        if not inspect.iscoroutinefunction(checker):
            raise TypeError(f"checker for {exercise_id!r} must be an async def")
        if exercise_id in _registry and _registry[exercise_id].checker is not checker:
            raise ValueError(f"exercise id {exercise_id!r} is registered twice")
        _registry[exercise_id] = Exercise(exercise_id, title, checker, time_limit)
        return checker

    return register


def exercises() -> dict[str, Exercise]:
    """Every registered exercise, by id (importing this package registered them all)."""
    return dict(sorted(_registry.items()))


def check_mode() -> str:
    mode = os.environ.get(MODE_ENV, "").strip()
    if mode not in MODES:
        raise LabError(f"{MODE_ENV}={mode!r} is not a mode; use one of: strict, expect-unsolved, or unset it")
    return mode


def _record(result: CheckResult, demo: bool) -> None:
    path = os.environ.get(PROGRESS_ENV)
    if path:
        record = {"exercise": result.exercise, "passed": result.passed, "message": result.message,
                  "answer_kind": "demo" if demo else "answer"}
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")


async def check(
    exercise_id: str,
    answer: Any = None,
    *,
    time_limit: float | None = None,
    expect_pass: bool | None = None,
) -> CheckResult:
    """Check ``answer`` for one exercise and return a card.

    Never raises for a wrong answer (unless ``LABKIT_CHECK_MODE`` asks it to)
    and never waits longer than the time limit. ``expect_pass=False`` marks a
    cell that shows a wrong answer on purpose: automated runs then require the
    check to reject it, whatever the mode.
    """
    known = exercises()
    if exercise_id not in known:
        close = [e for e in known if e.split(".")[0] == exercise_id.split(".")[0]] or list(known)
        raise LabError(f"No exercise called {exercise_id!r}. Known exercises: {', '.join(close)}")
    ex = known[exercise_id]
    limit = ex.time_limit if time_limit is None else time_limit
    if not (isinstance(limit, (int, float)) and limit > 0):
        raise LabError(f"time_limit must be a positive number of seconds, got {limit!r}")
    began = time.perf_counter()
    note = await settle_runaways()
    checker = (ex.checker.__code__.co_filename, ex.checker.__code__.co_name)
    run = CheckRun(ex.id, lambda: ex.checker(answer), checker)
    run.start()
    details = code = ""
    outcome = asyncio.wrap_future(run.future)
    outcome.add_done_callback(lambda f: f.cancelled() or f.exception())  # read here or below, never lost
    try:
        done, _ = await asyncio.wait({outcome}, timeout=limit)
    except asyncio.CancelledError:  # the cell was interrupted: do not leave the learner's code running
        run.restore_output()
        await asyncio.shield(run.stop())
        raise
    if done:
        try:
            message, passed = run.future.result(), True  # not outcome's: asyncio re-creates a TimeoutError
        except NotYet as exc:
            message, passed, details, code = str(exc), False, exc.details, exc.code
        except Exception as exc:  # noqa: BLE001 - a crash in learner code is a hint, not a kernel error
            (message, details), passed = describe_crash(exc, checker), False
    else:
        at = run.stuck_at()
        runaway = await run.stop()
        passed = False
        if runaway is None:
            message = (f"Your code did not finish within {limit:g} s{at}, so the check stopped it. "
                       "Is something blocking, or waiting for an event that never comes?")
        else:
            message = (f"Your code did not finish within {limit:g} s{runaway.where or at}, and the check could not "
                       "stop it: it is still running inside this kernel, stuck in a call Python cannot interrupt. "
                       "Restart the kernel (Kernel > Restart Kernel) to end it; until then, later checks will say "
                       "it is still running.")
    cut = run.restore_output()
    if cut:
        message += f"\nYour code printed {cut:,} characters more than the {OUTPUT_CAP:,} shown in the notebook."
    shown, kept_back = _code_to_show(ex.id, code)
    result = CheckResult(ex.id, ex.title, passed, note + message, time.perf_counter() - began, details,
                         shown, kept_back)
    await asyncio.to_thread(_record, result, expect_pass is not None)  # file I/O stays off the loop
    mode = check_mode()
    if mode and expect_pass is not None:
        if passed != expect_pass:
            raise CheckFailed(f"expected this check to {'pass' if expect_pass else 'be rejected'}: {result!r}")
    elif mode == "strict" and not passed:
        raise CheckFailed(f"{result!r}")
    elif mode == "expect-unsolved" and passed:
        raise CheckFailed(f"{exercise_id} passed, but this notebook should still hold the unsolved stub: {result!r}")
    return result
