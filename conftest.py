"""Suite-wide rules: notebook check modes, and no silent skips in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SOLUTIONS = Path(__file__).parent / "notebooks" / "solutions"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # nbval starts a notebook's kernel while setting up its first cell, and the
    # kernel inherits our environment: choose the check mode before that.
    path = Path(str(item.path))
    if path.suffix == ".ipynb":
        solved = SOLUTIONS in path.parents
        os.environ["LABKIT_CHECK_MODE"] = "strict" if solved else "expect-unsolved"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") and skipped:
        terminalreporter.write_line(
            f"CI is set and {len(skipped)} test(s) were skipped: in CI every test must run "
            "(install what the skip reason names).",
            red=True,
        )
        terminalreporter._session.exitstatus = pytest.ExitCode.TESTS_FAILED
