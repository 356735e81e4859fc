"""The five-rule reviewer: a static check of Python code against the lab's standard.

It reads code with :mod:`ast` and never runs it. Each finding names the rule,
the file and line, what is wrong there and the fix::

    from labkit.review import review_paths, review_source
    review_source(code)            # a Review: prints as text, shows as a table
    review_paths(["service/"])     # files, folders, notebooks

From a shell: ``python -m labkit review PATH... [--format text|json|sarif] [--block-name chat]``
(exit codes: see :mod:`labkit.review.cli`).
In a notebook: ``%load_ext labkit.review``, then a cell starting ``%%review``.
Silence one finding with a comment on its line: ``# labkit: ignore[R1] why it is fine``;
the review still lists it as suppressed, with that reason.
"""

from __future__ import annotations

from typing import Any

from .config import DEFAULT_BLOCK_NAMES, ReviewConfig
from .engine import review_paths, review_source
from .findings import RULES, Finding, Review
from .source import ReviewError


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext labkit.review`` registers the ``%%review`` cell magic."""
    from .magic import register

    register(ipython)


__all__ = [
    "DEFAULT_BLOCK_NAMES",
    "RULES",
    "Finding",
    "Review",
    "ReviewConfig",
    "ReviewError",
    "load_ipython_extension",
    "review_paths",
    "review_source",
]
