"""Learner functions copied into real worker processes: the notebook globals they read come along,
what cannot come along is named in one line, and what goes wrong in a worker is shown by its cause.

This module plays the notebook: its globals are the cells above the answer.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
import threading
from asyncio import to_thread
from concurrent.futures import ThreadPoolExecutor
from signal import SIGINT, SIGTERM

import pytest

from labkit import llm
from labkit.exercises.framework import check
from labkit.exercises.learner_code import module_source


@pytest.fixture(autouse=True)
def _plain_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)


SIGNALS = (signal.SIGTERM, signal.SIGINT)
BY_NAME = {"term": SIGTERM, "int": SIGINT}
POOL = ThreadPoolExecutor(max_workers=2)
ATTEMPTS = 1


def logged(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


@logged
def stop_signals():
    return [BY_NAME["term"], BY_NAME["int"]][:ATTEMPTS + 1]


# --------------------------------------------------------------------------- carried over and accepted


def handlers_from_a_global_tuple(loop, stop):
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)


def handlers_imported_by_name(loop, stop):
    loop.add_signal_handler(SIGTERM, stop.set)
    loop.add_signal_handler(SIGINT, stop.set)


def handlers_by_module_while_names_are_imported(loop, stop):
    for sig in (signal.SIGTERM, signal.SIGINT):  # SIGTERM is also a global here: it must not get in the way
        loop.add_signal_handler(sig, stop.set)


def handlers_through_a_decorated_helper(loop, stop):
    for sig in stop_signals():
        loop.add_signal_handler(sig, stop.set)


@pytest.mark.parametrize("answer", [handlers_from_a_global_tuple, handlers_imported_by_name,
                                    handlers_by_module_while_names_are_imported, handlers_through_a_decorated_helper])
async def test_stop_handlers_reading_notebook_globals_are_accepted(answer) -> None:
    result = await check("05.stop-handlers", answer)
    assert result.passed, result.message


async def handle_with_to_thread_imported_by_name(system_msg, history, conf):
    return await to_thread(llm.chat, system_msg, history, conf)


async def handle_with_a_module_level_pool(system_msg, history, conf):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(POOL, llm.chat, system_msg, history, conf)


@pytest.mark.parametrize("answer", [handle_with_to_thread_imported_by_name, handle_with_a_module_level_pool])
async def test_offload_handler_reading_notebook_globals_is_accepted(answer) -> None:
    result = await check("04.offload-handler", answer)
    assert result.passed, result.message


def test_enum_members_are_rebuilt_by_name_never_by_repr() -> None:
    source = module_source(handlers_imported_by_name, "install_stop_handlers", "install_stop_handlers")
    assert "<Signals" not in source and "['SIGTERM']" in source
    compile(source, "learner_answer.py", "exec")


# --------------------------------------------------------------------------- what cannot be carried: one line

LOCK = threading.Lock()


def handlers_guarded_by_a_lock(loop, stop):
    with LOCK:
        loop.add_signal_handler(signal.SIGTERM, stop.set)


on_stop = lambda loop, stop: loop.add_signal_handler(signal.SIGTERM, stop.set)  # noqa: E731


def handlers_through_a_lambda(loop, stop):
    on_stop(loop, stop)


@pytest.mark.parametrize("answer, name, why", [(handlers_guarded_by_a_lock, "`LOCK`", "lock object"),
                                               (handlers_through_a_lambda, "`on_stop`", "lambda")])
async def test_a_global_that_cannot_be_carried_is_named_in_one_line(answer, name: str, why: str) -> None:
    result = await check("05.stop-handlers", answer)
    assert not result.passed
    assert "\n" not in result.message
    assert name in result.message and why in result.message, result.message
    assert "worker process" in result.message and "inside the function" in result.message


# --------------------------------------------------------------------------- the cause first, in the learner's line


async def handle_that_raises(system_msg, history, conf):
    reply = await asyncio.to_thread(llm.chat, system_msg, history, conf)
    return reply / 2


async def handle_that_exits(system_msg, history, conf):
    sys.exit(3)


async def handle_leaving_a_thread_running(system_msg, history, conf):
    threading.Thread(target=threading.Event().wait).start()
    return await asyncio.to_thread(llm.chat, system_msg, history, conf)


@pytest.mark.parametrize("answer, hint", [
    (handle_that_raises, "Your handle_that_raises raised TypeError: unsupported operand"),
    (handle_that_exits, "Your code called sys.exit(3) at line"),
])
async def test_learner_code_failing_in_a_worker_is_shown_by_its_cause(answer, hint: str) -> None:
    result = await check("04.offload-handler", answer)
    assert not result.passed
    assert result.message.startswith(hint), result.message
    assert "declared dead" not in result.message
    line = "return reply / 2" if answer is handle_that_raises else "sys.exit(3)"
    assert f"`{line}`" in result.message
    assert "Traceback" in result.details and line in result.details
    assert "<details" in result._repr_html_() and "Traceback" not in result.message


async def test_a_thread_left_running_is_blamed_on_the_function_of_this_exercise() -> None:
    result = await check("04.offload-handler", handle_leaving_a_thread_running)
    assert not result.passed
    assert "did not exit" in result.message and "a thread your handle starts" in result.message, result.message
    assert "start_heartbeat" not in result.message


def heartbeat_run_instead_of_start(beat, interval_s):
    stop = threading.Event()

    def beating():
        while not stop.wait(interval_s):
            beat()

    thread = threading.Thread(target=beating, daemon=True)
    thread.run()
    return stop.set


async def test_thread_run_instead_of_start_gets_a_hint_about_run() -> None:
    result = await check("04.heartbeat-thread", heartbeat_run_instead_of_start)
    assert not result.passed
    assert "`thread.run()`" in result.message and "Thread.start()" in result.message, result.message
    assert "runpy" not in result.message


def heartbeat_thread_that_crashes(beat, interval_s):
    stop = threading.Event()

    def beating():
        while not stop.wait(interval_s):
            beat(interval_s)

    threading.Thread(target=beating, daemon=True).start()
    return stop.set


async def test_an_exception_in_a_thread_the_learner_started_is_the_cause() -> None:
    result = await check("04.heartbeat-thread", heartbeat_thread_that_crashes)
    assert not result.passed
    assert result.message.startswith("Your code (in thread"), result.message
    assert "TypeError" in result.message and "`beat(interval_s)`" in result.message
    assert "declared dead" not in result.message and "beat(interval_s)" in result.details


Rebuilt = type("Rebuilt", (), {"__module__": __name__})  # a class whose source cannot be read back


def handlers_with_a_class_without_source(loop, stop):
    Rebuilt()
    loop.add_signal_handler(signal.SIGTERM, stop.set)


def test_a_notebook_class_without_source_is_named_not_the_answer() -> None:
    with pytest.raises(Exception, match=r"global `Rebuilt` \(a class defined in the notebook whose source"):
        module_source(handlers_with_a_class_without_source, "install_stop_handlers", "install_stop_handlers")
