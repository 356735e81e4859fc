"""The code has no unused imports or variables, undefined names or syntax errors (pyflakes' checks, via ruff)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_pyflakes_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--select", "F,E9",
                           "--output-format", "concise", "labkit", "tests", "benchmarks"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
