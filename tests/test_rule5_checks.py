"""Notebook 05's checks signal real worker processes: correct styles pass, each mistake gets its hint."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from hint_asks import assert_idea_then_code
from labkit.exercises.framework import check, forget_hints


@pytest.fixture(autouse=True)
def _plain_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABKIT_CHECK_MODE", raising=False)


# --------------------------------------------------------------------------- 05.stop-handlers


def add_handlers(loop, stop):
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def threadsafe_signal_signal(loop, stop):
    def on_signal(signum, frame):
        loop.call_soon_threadsafe(stop.set)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def sigterm_only(loop, stop):
    loop.add_signal_handler(signal.SIGTERM, stop.set)


def exits_in_handler(loop, stop):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))


def async_handler(loop, stop):
    async def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def installs_nothing(loop, stop):
    pass


def raw_signal_sets_event(loop, stop):
    # stop.set() from outside the loop: the event is set, but a loop with nothing scheduled sleeps on
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())


def sets_stop_at_install(loop, stop):
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set())  # calls set() now: the worker never takes a task


def stops_on_its_own(loop, stop):
    # changes the problem: no handler at all, the worker is simply told to stop before it starts
    stop.set()


@pytest.mark.parametrize("answer", [add_handlers, threadsafe_signal_signal], ids=["add_signal_handler", "signal+threadsafe"])
async def test_stop_handlers_accept(answer) -> None:
    result = await check("05.stop-handlers", answer)
    assert result.passed, result.message


@pytest.mark.parametrize("answer, hint", [
    (installs_nothing, "killed the worker"),
    (sigterm_only, "SIGINT killed the worker"),
    (exits_in_handler, "left RUNNING"),
    (async_handler, "never made the loop stop"),
    (raw_signal_sets_event, "without waking the loop"),
    (sets_stop_at_install, "`stop.set()` with parentheses calls it right away"),
    (stops_on_its_own, "never claimed a task before SIGTERM arrived"),
])
async def test_stop_handlers_reject(answer, hint: str) -> None:
    forget_hints()
    result = await check("05.stop-handlers", answer)
    assert not result.passed
    assert hint in result.message, result.message
    assert not any(call in result.message for call in SPELLED_OUT), result.message  # the idea first


# --------------------------------------------------------------------------- 05.graceful-worker


async def graceful_wait(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        job = asyncio.create_task(worker.execute(claim))
        stopping = asyncio.create_task(worker.stop.wait())
        await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not job.done():
            await asyncio.wait({job}, timeout=worker.grace_s)
        if not job.done():
            await worker.release(claim)
            job.cancel()


async def graceful_shield(worker):
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.stop.set)
    loop.add_signal_handler(signal.SIGINT, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if not claim:
            try:
                await asyncio.wait_for(worker.stop.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
            continue
        job = asyncio.ensure_future(worker.execute(claim))
        while not job.done() and not worker.stop.is_set():
            await asyncio.wait({job}, timeout=0.05)
        try:
            await asyncio.wait_for(asyncio.shield(job), timeout=worker.grace_s)
        except asyncio.TimeoutError:
            await worker.release(claim)
            job.cancel()


async def no_handlers(worker):
    while True:
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        await worker.execute(claim)


async def waits_forever(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        await worker.execute(claim)  # however long it takes


async def abandons_task(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        job = asyncio.create_task(worker.execute(claim))
        stopping = asyncio.create_task(worker.stop.wait())
        await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not job.done():
            job.cancel()  # and leave the task RUNNING


async def keeps_claiming(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while True:
        claim = await worker.store.claim(worker.id)  # ignores the stop event
        if claim is None:
            if worker.stop.is_set():
                return
            await asyncio.sleep(0.05)
            continue
        try:
            await asyncio.wait_for(asyncio.shield(worker.execute(claim)), timeout=worker.grace_s)
        except asyncio.TimeoutError:
            await worker.release(claim)
            return


def sync_worker(worker):
    pass


async def grace_on_every_task(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        try:  # a time limit on every task, signal or not
            await asyncio.wait_for(asyncio.shield(worker.execute(claim)), worker.grace_s)
        except asyncio.TimeoutError:
            await worker.release(claim)


async def release_not_awaited(worker):
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, worker.stop.set)
    asyncio.get_running_loop().add_signal_handler(signal.SIGINT, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if not claim:
            await asyncio.sleep(0.05)
            continue
        job = asyncio.ensure_future(worker.execute(claim))
        while not job.done() and not worker.stop.is_set():
            await asyncio.wait({job}, timeout=0.05)
        finished, _ = await asyncio.wait({job}, timeout=worker.grace_s)
        if not finished:
            worker.release(claim)  # never awaited: nothing is handed back
            job.cancel()


async def bypasses_the_worker(worker):
    # changes the problem: waits for the signal and exits without ever taking work
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    await worker.stop.wait()


@pytest.mark.parametrize("answer", [graceful_wait, graceful_shield], ids=["wait", "shield"])
async def test_graceful_worker_accepts(answer) -> None:
    result = await check("05.graceful-worker", answer)
    assert result.passed, result.message


@pytest.mark.parametrize("answer, hint", [
    (no_handlers, "killed the worker"),
    (waits_forever, "grace"),
    (keeps_claiming, "stop taking work"),
    (sync_worker, "async def"),
    (grace_on_every_task, "not a time limit on every task"),
    (release_not_awaited, "never awaited"),
    (abandons_task, "dropped (cancelled or abandoned) without being handed back"),
    (bypasses_the_worker, "never claimed a task"),
])
async def test_graceful_worker_rejects(answer, hint: str) -> None:
    forget_hints()
    result = await check("05.graceful-worker", answer)
    assert not result.passed
    assert hint in result.message, result.message
    assert not any(call in result.message for call in SPELLED_OUT), result.message  # the idea first


async def test_verdicts_hold_on_a_loaded_machine(loaded_machine) -> None:
    """With the CPUs oversubscribed, right answers still pass (no task rerun blamed on them) and wrong ones fail."""
    for exercise_id, answer, right in [
        ("05.stop-handlers", add_handlers, True), ("05.stop-handlers", raw_signal_sets_event, False),
        ("05.graceful-worker", graceful_wait, True), ("05.graceful-worker", grace_on_every_task, False),
    ]:
        result = await check(exercise_id, answer)
        assert result.passed == right, (exercise_id, answer.__name__, loaded_machine, result.message)


SPELLED_OUT = ("add_signal_handler(", "call_soon_threadsafe(", "release(claim)", "worker.claim()",
               "execute(claim)", "is_set()")


@pytest.mark.parametrize("exercise_id, answer, code", [
    ("05.stop-handlers", installs_nothing, "loop.add_signal_handler(sig, stop.set)"),
    ("05.stop-handlers", raw_signal_sets_event, "loop.call_soon_threadsafe(stop.set)"),
    ("05.graceful-worker", release_not_awaited, "await worker.release(claim)"),
    ("05.graceful-worker", bypasses_the_worker, "claim = await worker.claim()"),
])
async def test_a_hint_gives_the_idea_first_and_the_code_on_a_second_ask(exercise_id, answer, code) -> None:
    await assert_idea_then_code(exercise_id, answer, code, SPELLED_OUT)


async def test_a_worker_takes_sigint_even_when_its_fork_server_started_with_sigint_ignored() -> None:
    """A process that ignores SIGINT passes that on through exec; the workers' fork server must not."""
    from labkit.tasks.procs import stop_fork_server

    stop_fork_server()  # the next worker starts a new one, from a process that ignores SIGINT
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forget_hints()
        result = await check("05.graceful-worker", no_handlers)
    finally:
        signal.signal(signal.SIGINT, ignored)
        stop_fork_server()
    assert not result.passed and "killed the worker" in result.message, result.message
