"""Command line: ``python -m labkit doctor | author | review | progress | demo | reset``."""

from __future__ import annotations

import argparse
import sys

from ..review.cli import add_parser as add_review_parser


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    report = run_doctor()
    print(report.text())
    return 0 if report.ok else 1


def _author(args: argparse.Namespace) -> int:
    from .author import author

    problems = author(check=args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("Run `python -m labkit author` to rewrite the learner notebooks.", file=sys.stderr)
        return 1
    print("learner notebooks are up to date" if args.check else "learner notebooks written")
    return 0


def _progress(args: argparse.Namespace) -> int:
    from .progress import progress

    table = progress(only=args.notebook or "", report=lambda line: print(line, file=sys.stderr, flush=True))
    print(table.text())
    return 0


def _demo(args: argparse.Namespace) -> int:
    import asyncio

    from .demo import DEMOS, run_demo

    if args.name is None:
        for name, (about, _) in sorted(DEMOS.items()):
            print(f"{name:10} {about}")
        return 0
    asyncio.run(run_demo(args.name, sys.stdout))  # a terminal program: its own top-level loop
    return 0


def _jupyter_settings(args: argparse.Namespace) -> int:
    from .jupyter_settings import write_overrides

    print(f"wrote {write_overrides()}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from .reset import reset

    print(reset(dry_run=args.dry_run).text())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit", description="Async Recovery Lab tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("doctor", help="check this machine is ready for the lab").set_defaults(run=_doctor)
    author = commands.add_parser("author", help="write learner notebooks from notebooks/solutions/")
    author.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    author.set_defaults(run=_author)
    add_review_parser(commands)
    progress = commands.add_parser("progress", help="run your notebooks and list which exercises pass")
    progress.add_argument("--notebook", metavar="TEXT", help="only notebooks whose name contains TEXT, e.g. 01")
    progress.set_defaults(run=_progress)
    demo = commands.add_parser("demo", help="run a headline demo in this terminal (no Jupyter needed)")
    demo.add_argument("name", nargs="?", help="which demo; leave out to list them")
    demo.set_defaults(run=_demo)
    reset = commands.add_parser("reset", help="reclaim what dead lab sessions left (servers, workers, temp files); clear your keys on REDIS_URL")
    reset.add_argument("--dry-run", action="store_true", help="only list what would be stopped or deleted")
    reset.set_defaults(run=_reset)
    commands.add_parser(
        "jupyter-settings", help="write the lab's JupyterLab defaults into this environment (no news pop-up)",
    ).set_defaults(run=_jupyter_settings)
    args = parser.parse_args(argv)
    from ..errors import LabError

    try:
        return args.run(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

