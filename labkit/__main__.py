"""Command line: ``python -m labkit doctor | author``."""

from __future__ import annotations

import argparse
import sys


def _doctor(args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    report = run_doctor()
    print(report.text())
    return 0 if report.ok else 1


def _author(args: argparse.Namespace) -> int:
    from .authoring import author

    problems = author(check=args.check)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print("Run `python -m labkit author` to rewrite the learner notebooks.", file=sys.stderr)
        return 1
    print("learner notebooks are up to date" if args.check else "learner notebooks written")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit", description="Async Recovery Lab tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("doctor", help="check this machine is ready for the lab").set_defaults(run=_doctor)
    author = commands.add_parser("author", help="write learner notebooks from notebooks/solutions/")
    author.add_argument("--check", action="store_true", help="only report drift; exit 1 if any")
    author.set_defaults(run=_author)
    args = parser.parse_args(argv)
    from .errors import LabError

    try:
        return args.run(args)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
