"""Learner code that runs away, exits, interrupts or floods: every case ends in a card, the kernel
keeps running, and later checks are told when earlier code could not be stopped."""

from __future__ import annotations

import asyncio
import sys
import threading
import time

import pytest

from labkit.exercises.framework import MODE_ENV, check, exercise
from labkit.exercises.running import OUTPUT_CAP, runaway_note

from worker_procs import live_worker_children


@exercise("test.call", title="call a function and count what it returns", time_limit=5)
async def call_check(answer) -> str:
    value = await asyncio.to_thread(answer)
    return f"it returned {len(list(value))} items"


@exercise("test.await", title="await a coroutine function", time_limit=5)
async def await_check(answer) -> str:
    return f"it returned {await answer()!r}"


@pytest.fixture(autouse=True)
async def no_mode_no_runaway(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE_ENV, raising=False)
    deadline = time.monotonic() + 10
    while runaway_note() and time.monotonic() < deadline:  # an earlier test's uninterruptible sleep
        await asyncio.sleep(0.1)


def _threads_in_this_file() -> list[threading.Thread]:
    frames = sys._current_frames()
    found = []
    for thread in threading.enumerate():
        if thread is threading.current_thread():
            continue
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code.co_filename == __file__:
                found.append(thread)
                break
            frame = frame.f_back
    return found


def _cpu_seconds_over(wall_s: float) -> float:
    began = time.process_time()
    time.sleep(wall_s)
    return time.process_time() - began


def spin():
    while True:
        pass


async def spin_on_the_loop():
    while True:
        pass


@pytest.mark.parametrize("exercise_id, answer", [("test.call", spin), ("test.await", spin_on_the_loop)])
async def test_a_runaway_loop_is_stopped_and_stops_burning_the_cpu(exercise_id: str, answer) -> None:
    result = await check(exercise_id, answer, time_limit=0.5)
    assert not result.passed
    assert "so the check stopped it" in result.message and "while True" in result.message, result.message
    assert _threads_in_this_file() == [], "the learner's loop still runs in a thread"
    assert _cpu_seconds_over(0.5) < 0.25, "something still burns a core after the check"
    after = await check("test.call", lambda: [1, 2, 3])
    assert after.passed and not after.message.startswith("Note:"), after.message


def sleep_in_c():
    time.sleep(6)  # one C call: Python cannot interrupt it before it returns
    return []


async def test_code_that_cannot_be_stopped_is_named_and_later_checks_are_warned() -> None:
    result = await check("test.call", sleep_in_c, time_limit=0.3)
    assert not result.passed
    assert "could not stop it" in result.message and "Restart the kernel" in result.message, result.message
    assert "time.sleep(6)" in result.message
    later = await check("test.call", lambda: [1, 2])  # waits a moment for it, then says it still runs
    assert later.passed
    assert later.message.startswith("Note: your code from an earlier check is still running"), later.message
    assert "test.call" in later.message.splitlines()[0]
    deadline = time.monotonic() + 10
    while runaway_note() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert runaway_note() == "", "the runaway ended when its C call returned"
    clean = await check("test.call", lambda: [1])
    assert clean.passed and not clean.message.startswith("Note:")


def exits():
    sys.exit(3)


def interrupts():
    raise KeyboardInterrupt


async def cancels_itself():
    asyncio.current_task().cancel()
    await asyncio.sleep(1)


async def times_out_itself():
    raise TimeoutError("the learner's own timeout")


@pytest.mark.parametrize("exercise_id, answer, hint, line", [
    ("test.call", exits, "Your code called sys.exit(3)", "sys.exit(3)"),
    ("test.call", interrupts, "Your code raised KeyboardInterrupt", "raise KeyboardInterrupt"),
    ("test.await", cancels_itself, "Your code was cancelled", "await asyncio.sleep(1)"),
    ("test.await", times_out_itself, "Your code raised TimeoutError: the learner's own timeout", "raise TimeoutError"),
])
async def test_escapes_become_cards_pointing_at_the_learners_line(exercise_id, answer, hint: str, line: str) -> None:
    if answer is cancels_itself and sys.version_info < (3, 11):
        line = ""  # Python 3.10's CancelledError carries no frame of the coroutine it cancelled
    result = await check(exercise_id, answer)
    assert not result.passed
    assert result.message.startswith(hint) and line in result.message, result.message
    assert "Traceback" in result.details and "<details" in result._repr_html_()


async def test_an_error_in_the_checks_own_code_is_not_blamed_on_a_learner_line() -> None:
    result = await check("test.call", lambda: 42)
    assert not result.passed
    assert "TypeError: 'int' object is not iterable" in result.message
    assert "the check's own code, not from a line of yours" in result.message, result.message


def floods():
    for _ in range(10_000):
        print("x" * 1000)
    return []


async def test_printing_megabytes_is_capped(capsys: pytest.CaptureFixture[str]) -> None:
    result = await check("test.call", floods)
    shown = capsys.readouterr().out
    assert result.passed
    assert len(shown) < OUTPUT_CAP + 500, f"{len(shown):,} characters reached the notebook"
    assert "output cut" in shown
    assert "printed 9,990,000 characters more" in result.message, result.message


def add_handlers(loop, stop):
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def test_a_worker_check_that_times_out_leaves_no_worker_running() -> None:
    result = await check("05.stop-handlers", add_handlers, time_limit=0.8)
    assert not result.passed and "did not finish within 0.8 s" in result.message
    assert live_worker_children() == [], "the check's worker processes outlived it"


def prints_a_little():
    print("hello from the learner")
    return []


async def test_two_checks_at_once_leave_the_streams_as_they_found_them() -> None:
    stdout, stderr = sys.stdout, sys.stderr
    first, second = await asyncio.gather(check("test.call", floods), check("test.call", prints_a_little))
    assert first.passed and second.passed
    assert sys.stdout is stdout and sys.stderr is stderr
