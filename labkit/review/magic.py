"""The ``%%review`` cell magic: review a cell's code instead of running it.

Registered only by ``%load_ext labkit.review`` (or :func:`register`), never as
a side effect of ``import labkit``.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from .engine import review_source
from .findings import Review
from .source import ReviewError

USAGE = "%%review [--block-name NAME]... [--rule R1]... [--run]"


def _options(line: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="%%review", add_help=False)
    parser.add_argument("--block-name", action="append", dest="block_names")
    parser.add_argument("--rule", action="append", dest="rules")
    parser.add_argument("--run", action="store_true")
    try:
        options, unknown = parser.parse_known_args(shlex.split(line))
    except SystemExit:
        unknown = [line]
    if unknown:
        raise ReviewError(f"%%review does not understand {' '.join(unknown)!r}; usage: {USAGE}")
    return options


def review_cell(line: str, cell: str, ipython: Any = None) -> Review:
    """Review ``cell``; with ``--run`` also run it (after showing the review)."""
    options = _options(line)
    block_names = None
    if options.block_names:
        from .config import DEFAULT_BLOCK_NAMES

        block_names = (*DEFAULT_BLOCK_NAMES, *options.block_names)
    review = review_source(cell, "<cell>", block_names=block_names, rules=options.rules)
    if options.run and ipython is not None:
        from IPython.display import display

        display(review)
        ipython.run_cell(cell)
    return review


def register(ipython: Any) -> None:
    def review(line: str, cell: str) -> Review | None:
        result = review_cell(line, cell, ipython)
        return None if _options(line).run else result

    review.__doc__ = f"Review this cell against the five rules without running it. Usage: {USAGE}"
    ipython.register_magic_function(review, magic_kind="cell", magic_name="review")
