"""The check machinery, and notebook 00's warm-up checker tested both ways."""

from __future__ import annotations

import asyncio
import time

import pytest

from labkit.exercises.framework import ASK_AGAIN, MODE_ENV, CheckResult, NotYet, check, exercise, forget_hints
from labkit.errors import CheckFailed, LabError
from labkit.exercises.running import runaway_note


@exercise("test.square", title="square a number", time_limit=2)
async def _square_check(answer) -> str:
    value = await asyncio.to_thread(answer, 7)
    if value != 49:
        raise NotYet(f"square(7) should be 49, got {value!r}")
    return "square(7) == 49"


@pytest.fixture(autouse=True)
def no_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MODE_ENV, raising=False)


async def test_pass_and_not_yet_cards() -> None:
    good = await check("test.square", lambda x: x * x)
    assert good.passed and isinstance(good, CheckResult)
    assert "Passed" in good._repr_html_() and 'data-passed="true"' in good._repr_html_()
    bad = await check("test.square", lambda x: x + x)
    assert not bad.passed and "got 14" in bad.message
    assert "Not yet" in bad._repr_html_()


async def test_learner_crash_becomes_a_hint_naming_the_line() -> None:
    def broken(x):
        return x / 0

    result = await check("test.square", broken)
    assert not result.passed
    assert "ZeroDivisionError" in result.message and "return x / 0" in result.message


async def test_unsolved_stub_gets_the_stub_hint() -> None:
    def stub(x):
        raise NotImplementedError()

    result = await check("test.square", stub)
    assert "still raises NotImplementedError" in result.message


async def test_time_limit_abandons_blocking_code_without_freezing_the_loop() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    began = time.perf_counter()
    result = await check("test.square", lambda x: time.sleep(3), time_limit=0.5)
    elapsed = time.perf_counter() - began
    assert not result.passed and "did not finish within 0.5 s" in result.message
    assert elapsed < 3
    assert ticks > 10, "the caller's event loop kept running while the learner's code blocked"
    while runaway_note():  # the sleep cannot be interrupted: let it end before the next test
        await asyncio.sleep(0.1)
    task.cancel()


async def test_strict_mode_raises_on_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "strict")
    assert (await check("test.square", lambda x: x * x)).passed
    with pytest.raises(CheckFailed, match="got 14"):
        await check("test.square", lambda x: x + x)


async def test_expect_unsolved_mode_raises_when_a_stub_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "expect-unsolved")
    assert not (await check("test.square", lambda x: x + x)).passed
    with pytest.raises(CheckFailed, match="should still hold the unsolved stub"):
        await check("test.square", lambda x: x * x)


async def test_expect_pass_false_demands_a_rejection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MODE_ENV, "strict")
    assert not (await check("test.square", lambda x: x + x, expect_pass=False)).passed
    with pytest.raises(CheckFailed, match="expected this check to be rejected"):
        await check("test.square", lambda x: x * x, expect_pass=False)


async def test_bad_input_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(LabError, match="No exercise called 'test.cube'.*test.square"):
        await check("test.cube", abs)
    with pytest.raises(LabError, match="time_limit must be a positive number"):
        await check("test.square", abs, time_limit=-1)
    monkeypatch.setenv(MODE_ENV, "loud")
    with pytest.raises(LabError, match="is not a mode"):
        await check("test.square", lambda x: x * x)
    with pytest.raises(TypeError, match="must be an async def"):
        exercise("test.sync", title="sync")(lambda answer: "ok")


# Notebook 00's warm-up: every correct style passes, the warned-about mistakes do not.

async def _gather(fetch, names):
    return await asyncio.gather(*(fetch(n) for n in names))


async def _tasks(fetch, names):
    tasks = [asyncio.create_task(fetch(n)) for n in names]
    return [await t for t in tasks]


async def _task_group(fetch, names):
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(fetch(n)) for n in names]
    return [t.result() for t in tasks]


@pytest.mark.parametrize("answer", [_gather, _tasks] + ([_task_group] if hasattr(asyncio, "TaskGroup") else []))
async def test_fetch_all_accepts_every_concurrent_style(answer) -> None:
    result = await check("00.fetch-all", answer)
    assert result.passed, result.message


async def _one_by_one(fetch, names):
    return [await fetch(n) for n in names]


async def _unordered(fetch, names):
    return list(reversed(await asyncio.gather(*(fetch(n) for n in names))))


async def _unawaited(fetch, names):
    return [fetch(n) for n in names]


def _sync(fetch, names):
    return names


async def _written_out(fetch, names):
    await asyncio.gather(*(fetch(n) for n in names))
    return [n.upper() for n in names]  # changes the problem: the results are made up


async def _no_calls(fetch, names):
    await asyncio.sleep(0.3)
    return [n.upper() for n in names]


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (_one_by_one, "at most 1 ran at once"),
        (_unordered, "in the order given"),
        (_unawaited, "not results: await them"),
        (_sync, "must be an `async def`"),
        (_written_out, "written out, not taken from fetch"),
        (_no_calls, "skips the lookup"),
        ("fetch_all", "Pass your function itself"),
    ],
)
async def test_fetch_all_rejects_the_mistakes_with_a_specific_hint(answer, hint: str) -> None:
    result = await check("00.fetch-all", answer)
    assert not result.passed
    assert hint in result.message


@pytest.mark.parametrize("answer", [_one_by_one, _unawaited])
async def test_fetch_all_hints_name_the_tool_first_and_spell_the_call_out_on_a_second_ask(answer) -> None:
    forget_hints()
    first = await check("00.fetch-all", answer)
    assert not first.passed and "asyncio.gather" in first.message and "gather(" not in first.message
    assert first.code_kept_back and ASK_AGAIN in first._repr_html_()
    second = await check("00.fetch-all", answer)
    assert not second.passed and "asyncio.gather(*(fetch(name) for name in names))" in second.code
    assert (await check("00.fetch-all", _gather)).passed
