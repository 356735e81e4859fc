"""`labkit progress` runs learner notebooks for real and reports each exercise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.errors import LabError
from labkit.cli.progress import progress
from labkit.scratch import owner_of, temp_root

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
pytestmark = pytest.mark.redis  # the notebooks start the lab's Redis


def test_solved_notebook_passes_and_stub_does_not(tmp_path: Path) -> None:
    solved, stub = tmp_path / "solved", tmp_path / "stub"
    solved.mkdir(), stub.mkdir()
    shutil.copy(NOTEBOOKS / "solutions" / "00-start-here.ipynb", solved / "00-start-here.ipynb")
    shutil.copy(NOTEBOOKS / "00-start-here.ipynb", stub / "00-start-here.ipynb")

    # its results live in a temp entry named after its owner, so `labkit reset` can reclaim it if killed
    during = []
    done = {r.exercise: r for r in progress(solved, report=lambda _: during.extend(temp_root().glob("labkit-*"))).rows}
    assert [owner_of(e) for e in during if e.name.startswith("labkit-progress-")] == [("progress", os.getpid())]
    assert done["00.fetch-all"].status == "pass"
    todo = {r.exercise: r for r in progress(stub).rows}
    assert todo["00.fetch-all"].status == "not yet"
    assert "NotImplementedError" in todo["00.fetch-all"].message
    # the wrong answers that notebook 00 shows on purpose are not counted as the learner's
    assert set(done) == set(todo) == {"00.fetch-all"}


def test_no_matching_notebook_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="No learner notebooks matching"):
        progress(tmp_path)


def test_cli_prints_the_table() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "labkit", "progress", "--notebook", "00-"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "00.fetch-all" in result.stdout and "exercises pass" in result.stdout
