"""One source of truth: learner notebooks are generated from the solutions."""

from __future__ import annotations

import re

import nbformat
import pytest

from labkit.cli.author import author, learner_notebook, learner_path, learner_source, solution_paths
from labkit.errors import LabError

SOLUTION_CELL = """def handle(msg):
    prepare()
    ### BEGIN SOLUTION
    ### STUB return chat(msg)  # blocks: fix me
    return await_it(chat, msg)
    ### END SOLUTION
"""


def test_stub_lines_replace_the_solution_keeping_indentation() -> None:
    assert learner_source(SOLUTION_CELL) == (
        "def handle(msg):\n    prepare()\n    return chat(msg)  # blocks: fix me"
    )


def test_region_without_stub_becomes_not_implemented() -> None:
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION"
    assert learner_source(source) == "def f():\n    # YOUR CODE HERE\n    raise NotImplementedError()"


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("### BEGIN SOLUTION\nx = 1", "never closed"),
        ("### END SOLUTION", "without a ### BEGIN SOLUTION"),
        ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
    ],
)
def test_malformed_markers_are_clear_errors(source: str, problem: str) -> None:
    with pytest.raises(LabError, match=problem):
        learner_source(source, "demo.ipynb, cell 3")


def test_solution_tagged_cells_are_dropped() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("intro"),
            nbformat.v4.new_code_cell("answer = 42", metadata={"tags": ["solution"]}),
            nbformat.v4.new_code_cell("x = 1"),
        ]
    )
    learner = learner_notebook(nb)
    assert [c.source for c in learner.cells] == ["intro", "x = 1"]


def test_learner_notebooks_match_their_solutions() -> None:
    assert author(check=True) == []


@pytest.mark.parametrize("path", solution_paths(), ids=lambda p: p.name)
def test_notebook_shape(path) -> None:
    for version in (path, learner_path(path)):
        nb = nbformat.read(version, as_version=4)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3", f"{version}: no python3 kernelspec"
        first, last = nb.cells[0].source, nb.cells[-1].source
        for heading in ("Questions", "Objectives"):
            assert re.search(rf"^(\*\*|#+ ){heading}", first, re.M), f"{version}: no {heading} up front"
        assert "Key points" in last, version
        # %%review cells are read by the static reviewer, never run, so they may show anything
        joined = "\n".join(c.source for c in nb.cells if c.cell_type == "code" and not c.source.startswith("%%review"))
        top_level_run = re.search(r"^(?![\s#]).*\basyncio\.run\(", joined, re.M)  # in a def body it is a stub to fix
        assert not top_level_run, f"{version}: use top-level await, not asyncio.run, in a cell"
        top_level_signal = re.search(r"^(?![\s#]).*(signal\.signal\(|add_signal_handler\()", joined, re.M)
        assert not top_level_signal, f"{version}: signal handlers belong in subprocesses, not the kernel"
        if version != path:
            assert "### BEGIN SOLUTION" not in joined and "### STUB" not in joined
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{version} has stored outputs"
