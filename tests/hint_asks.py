"""Test helper: a check's hint gives the idea on the first ask and the code on the second."""

from __future__ import annotations

from typing import Any

from labkit.exercises.framework import ASK_AGAIN, check, forget_hints


async def assert_idea_then_code(exercise_id: str, answer: Any, code: str, spelled_out: tuple[str, ...]) -> None:
    """The first card keeps the code back (none of ``spelled_out`` in it); asking again shows ``code``."""
    forget_hints()
    first = await check(exercise_id, answer)
    card = first._repr_html_()
    assert not first.passed and not first.code and first.code_kept_back and ASK_AGAIN in card, first.message
    assert not any(call in first.message or call in card for call in spelled_out), card
    second = await check(exercise_id, answer)
    assert not second.passed and code in second.code and not second.code_kept_back, second.code
