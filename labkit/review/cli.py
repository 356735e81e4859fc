"""``labkit review``: the five-rule reviewer as a command for terminals, CI and pre-commit.

Exit codes, so a script or a hook can tell the outcomes apart:

- 0: every file was reviewed and nothing was found;
- 1: findings, and every file was reviewed;
- 2: a usage error, e.g. a path that does not exist or an unknown rule;
- 3: no findings, but some files could not be read or parsed and were skipped,
  so they were not checked;
- 4: findings, and some files were skipped as well (so there may be more).

Suppressed findings (``# labkit: ignore[R1] reason``) never change the exit code;
every format still lists them, with their reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .config import DEFAULT_BLOCK_NAMES
from .findings import Review

FORMATS = ("text", "json", "sarif")
EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, EXIT_SKIPPED, EXIT_FINDINGS_AND_SKIPPED = 0, 1, 2, 3, 4
EPILOG = """exit codes: 0 clean; 1 findings; 2 usage error; 3 no findings but some files were
skipped (unreadable, or syntax this Python cannot parse); 4 findings and skipped files.
Silence one finding with a comment on its line: # labkit: ignore[R1] why it is fine here.
Suppressed findings are still listed, and do not change the exit code."""


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Register ``review`` on the top-level command's subparsers."""
    parser = commands.add_parser(
        "review",
        help="check code against the five rules (static; runs nothing)",
        description="Check Python files, notebooks and folders against the five rules. Nothing is run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help=".py files, notebooks or folders")
    parser.add_argument("--format", choices=FORMATS, default="text", help="text (default), json, or sarif (SARIF 2.1.0)")
    parser.add_argument("--json", action="store_const", const="json", dest="format", help="same as --format json")
    parser.add_argument(
        "--block-name", action="append", dest="block_names", metavar="NAME",
        help="another sync call to treat as blocking, e.g. chat or llm.generate (repeatable; chat is built in)",
    )
    parser.add_argument("--rule", action="append", dest="rules", metavar="R1,R3", help="only these rules")
    parser.set_defaults(run=run)
    return parser


def exit_code(review: Review) -> int:
    """One code that says both whether anything was found and whether every file was read."""
    if review:
        return EXIT_FINDINGS_AND_SKIPPED if review.skipped else EXIT_FINDINGS
    return EXIT_SKIPPED if review.skipped else EXIT_CLEAN


def render(review: Review, fmt: str) -> str:
    if fmt == "json":
        return review.to_json()
    if fmt == "sarif":
        from .sarif import to_sarif

        return json.dumps(to_sarif(review), indent=2)
    return review.text()


def run(args: argparse.Namespace) -> int:
    """Review ``args.paths`` and print the result; a ReviewError reaches the caller (exit 2)."""
    from .engine import review_paths

    block_names = (*DEFAULT_BLOCK_NAMES, *(args.block_names or ()))
    rules = [r.strip() for item in args.rules or () for r in item.split(",") if r.strip()] or None
    review = review_paths(args.paths, block_names=block_names, rules=rules)
    write_out(render(review, args.format))
    if args.format != "text" and review.skipped:  # the text format lists them itself
        for skipped in review.skipped:
            print(skipped.text(), file=sys.stderr)
    return exit_code(review)


def write_out(text: str) -> None:
    """Print ``text``; a reader that stops early (``| head``) ends the output quietly."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
