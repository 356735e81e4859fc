"""Write learner notebooks from solution notebooks, so there is one source of truth.

Solution notebooks live in ``notebooks/solutions/``. In a code cell, the answer
sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's
markers). Inside that region, a line ``### STUB <code>`` is what the learner
gets instead (for example the buggy original to fix); a region with no STUB
lines becomes ``raise NotImplementedError()``. A markdown cell tagged
``solution`` is dropped from the learner version (a worked answer), and a code
cell tagged ``solution`` is dropped too.

``python -m labkit author`` rewrites every learner notebook;
``python -m labkit author --check`` fails when one has drifted.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from ..errors import LabError

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = "### STUB"
SOLUTION_TAG = "solution"

_NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"


def learner_source(source: str, where: str = "cell") -> str:
    """The learner's version of one code cell's source."""
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise LabError(f"{where}, line {number}: nested {BEGIN}; close the first with {END}")
            region, indent = [], line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if region is None:
                raise LabError(f"{where}, line {number}: {END} without a {BEGIN} before it")
            out.extend(region or [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"])
            region = None
        elif region is not None:
            if stripped.startswith(STUB):
                code = stripped[len(STUB) :]
                region.append(indent + code[1:] if code.startswith(" ") else indent + code)
        else:
            out.append(line)
    if region is not None:
        raise LabError(f"{where}: {BEGIN} is never closed; add a line {END}")
    return "\n".join(out)


def learner_notebook(solution: nbformat.NotebookNode, name: str = "notebook") -> nbformat.NotebookNode:
    """A learner copy of a solution notebook: stubs in, answers and outputs out."""
    nb = nbformat.v4.new_notebook(metadata=dict(solution.metadata))
    for index, cell in enumerate(solution.cells):
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        new = nbformat.from_dict(dict(cell))
        new.pop("id", None)
        if cell.cell_type == "code":
            new.source = learner_source(cell.source, f"{name}, cell {index}")
            new.outputs, new.execution_count = [], None
        nb.cells.append(new)
    _assign_ids(nb)
    return nb


def _assign_ids(nb: nbformat.NotebookNode) -> None:
    """Stable cell ids, so regenerating a notebook gives the same bytes."""
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def solution_paths(notebooks: Path = _NOTEBOOKS) -> list[Path]:
    return sorted((notebooks / "solutions").glob("*.ipynb"))


def learner_path(solution_path: Path) -> Path:
    return solution_path.parent.parent / solution_path.name


def author(check: bool = False, notebooks: Path = _NOTEBOOKS) -> list[str]:
    """Write (or, with ``check``, compare) every learner notebook; returns problems."""
    problems: list[str] = []
    paths = solution_paths(notebooks)
    if not paths:
        raise LabError(f"No solution notebooks found in {notebooks / 'solutions'}")
    for path in paths:
        solution = nbformat.read(path, as_version=4)
        for index, cell in enumerate(solution.cells):
            if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
                problems.append(f"{path.name}, cell {index}: has stored outputs; clear them before committing")
        expected = render(learner_notebook(solution, path.name))
        target = learner_path(path)
        if check:
            current = target.read_text() if target.exists() else ""
            if current != expected:
                problems.append(f"{target.name} is out of date with solutions/{path.name}")
        else:
            target.write_text(expected)
    return problems
