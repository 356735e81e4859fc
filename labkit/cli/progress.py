"""``python -m labkit progress``: which exercises do my notebooks pass right now?

In the spirit of rustlings: run each learner notebook top to bottom in a fresh
kernel, collect every check it ran, and print one row per exercise in the lab.
Checks report to a file named by ``LABKIT_PROGRESS_FILE`` (see ``checks.py``),
so nothing is scraped from cell output.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..exercises.framework import PROGRESS_ENV, exercises
from ..errors import LabError
from ..scratch import owned_prefix, temp_root

NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
CELL_TIMEOUT_S = 120


@dataclass(frozen=True)
class Row:
    notebook: str
    exercise: str
    title: str
    status: str  # "pass", "not yet", "not run"
    message: str = ""


@dataclass(frozen=True)
class Progress:
    rows: tuple[Row, ...]

    @property
    def passed(self) -> int:
        return sum(r.status == "pass" for r in self.rows)

    def text(self) -> str:
        width = max((len(r.exercise) for r in self.rows), default=8)
        lines = [f"{'status':8}  {'exercise':<{width}}  title"]
        for r in self.rows:
            lines.append(f"{r.status.upper():8}  {r.exercise:<{width}}  {r.title}")
            if r.status == "not yet" and r.message:
                lines.append(f"{'':8}  {'':<{width}}  hint: {r.message}")
        lines.append(f"\n{self.passed} of {len(self.rows)} exercises pass.")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        colour = {"pass": "#2e7d32", "not yet": "#f9a825", "not run": "#888"}
        body = "".join(
            f"<tr><td style='color:{colour[r.status]};font-weight:bold'>{r.status}</td>"
            f"<td>{html.escape(r.exercise)}</td><td style='text-align:left'>{html.escape(r.title)}</td></tr>"
            for r in self.rows
        )
        return f"<table><tr><th>status</th><th>exercise</th><th>title</th></tr>{body}</table>" \
               f"<p>{self.passed} of {len(self.rows)} exercises pass.</p>"


def _notebook_for(exercise_id: str, notebooks: list[Path]) -> str:
    number = exercise_id.split(".")[0]
    for path in notebooks:
        if path.name.startswith(number + "-"):
            return path.name
    return "?"


def run_notebook(path: Path, results_file: Path) -> None:
    """Execute one notebook in a fresh kernel; errors in cells do not stop it."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    previous = os.environ.get(PROGRESS_ENV)
    os.environ[PROGRESS_ENV] = str(results_file)
    try:
        NotebookClient(
            nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        ).execute()
    finally:
        if previous is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = previous


def progress(
    notebooks_dir: Path = NOTEBOOKS, only: str = "", report: Callable[[str], None] = lambda _: None
) -> Progress:
    """Run the learner notebooks (those whose name contains ``only``) and tabulate every exercise."""
    paths = sorted(p for p in notebooks_dir.glob("[0-9][0-9]-*.ipynb") if only in p.name)
    if not paths:
        raise LabError(f"No learner notebooks matching {only!r} in {notebooks_dir}")
    latest: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix=owned_prefix("progress"), dir=temp_root()) as tmp:
        results = Path(tmp) / "results.jsonl"
        for path in paths:
            report(f"running {path.name} ...")
            run_notebook(path, results)
        if results.exists():
            for line in results.read_text().splitlines():
                record = json.loads(line)
                if record.get("answer_kind") == "demo":
                    continue
                best = latest.get(record["exercise"])
                if best is None or not best["passed"]:  # any passing answer counts
                    latest[record["exercise"]] = record
    ran = {p.name.split("-")[0] for p in paths}
    rows = []
    for ex in exercises().values():
        number = ex.id.split(".")[0]
        if number not in ran:
            continue
        record = latest.get(ex.id)
        if record is None:
            rows.append(Row(_notebook_for(ex.id, paths), ex.id, ex.title, "not run"))
        else:
            status = "pass" if record["passed"] else "not yet"
            rows.append(Row(_notebook_for(ex.id, paths), ex.id, ex.title, status, record["message"]))
    return Progress(tuple(rows))
