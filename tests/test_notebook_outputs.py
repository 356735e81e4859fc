"""What a learner sees after Run All: every figure once and not too wide, its point printed, cards without raw Markdown.

Executes each notebook (learner and solution) in a fresh kernel, as a learner would,
and then looks at the outputs rather than the code: a cell that shows the same
image twice, an HTML card that still carries Markdown syntax (backticks,
``**bold**``), a figure wider than JupyterLab's content column, or a figure whose
point (the one line it carries, see ``labkit.figures.style.stating``) is not also
printed as a line of the same cell, for screen readers and terminals, fails with
the notebook, the cell and what was wrong.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("notebooks/solutions/*.ipynb"))

pytestmark = pytest.mark.timeout(300)

# JupyterLab's content column is about 900-1000 px wide: a wider figure is shrunk, and its text with it.
MAX_PNG_WIDTH = 1000
# Markdown that should have been rendered: `code`, **bold**, [text](link).
MARKDOWN_LEFTOVERS = re.compile(r"`[^`\n]+`|\*\*[^*\n]+\*\*|\[[^\]\n]+\]\([^)\n]+\)")
TAG = re.compile(r"<[^>]+>")
# Run last in the kernel: the point of every Figure a cell returned, by execution count.
POINTS_PROBE = ("import json as _json\n"
                "print('LABKIT-POINTS', _json.dumps({n: getattr(v, 'labkit_point', None) for n, v in Out.items()"
                " if type(v).__name__ == 'Figure'}))")


def image_digests(outputs: list[Any]) -> list[str]:
    """One digest per image shown by a cell's outputs (PNG or SVG)."""
    digests = []
    for output in outputs:
        data = output.get("data", {})
        for mime in ("image/png", "image/svg+xml"):
            if mime in data:
                payload = data[mime]
                raw = base64.b64decode(payload) if mime == "image/png" else str(payload).encode()
                digests.append(hashlib.sha256(raw).hexdigest())
    return digests


def png_widths(outputs: list[Any]) -> list[int]:
    """The natural width in pixels of every PNG a cell shows (read from the PNG header)."""
    widths = []
    for output in outputs:
        payload = output.get("data", {}).get("image/png")
        if payload:
            widths.append(struct.unpack(">I", base64.b64decode(payload)[16:20])[0])
    return widths


def markdown_in_html(markup: str) -> list[str]:
    """Markdown syntax left in an HTML output's visible text (``<pre>`` blocks are code: skipped)."""
    visible = re.sub(r"<pre\b.*?</pre>", "", markup, flags=re.S | re.I)
    text = html.unescape(TAG.sub(" ", visible))
    return MARKDOWN_LEFTOVERS.findall(text)


def test_the_checks_find_what_they_look_for() -> None:
    png = base64.b64encode(b"\x89PNG same bytes").decode()
    twice = [{"data": {"image/png": png}}, {"data": {"image/png": png, "text/plain": "<Figure>"}}]
    assert len(set(image_digests(twice))) == 1 and len(image_digests(twice)) == 2
    assert markdown_in_html("<div>run it with `await asyncio.to_thread(f)`</div>") == ["`await asyncio.to_thread(f)`"]
    assert markdown_in_html("<b>**Passed**</b>") == ["**Passed**"]
    assert markdown_in_html("<div>run it with <code>await asyncio.to_thread(f)</code></div>") == []
    assert markdown_in_html("<pre>x = `a`</pre>") == []
    header = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">II", 951, 400)
    assert png_widths([{"data": {"image/png": base64.b64encode(header).decode()}}]) == [951]
    shown = {"output_type": "execute_result", "data": {"image/png": png}}
    said = {"output_type": "stream", "name": "stdout", "text": "10 of 17 schedules fail.\nmore\n"}
    cell = nbformat.v4.new_code_cell("x.plot()", execution_count=3)
    cell.outputs = [said, shown]
    assert unstated_points([cell], {"3": "10 of 17 schedules fail."}) == []
    assert "not printed" in unstated_points([cell], {"3": "a different point"})[0]
    assert "states no point" in unstated_points([cell], {"3": None})[0]
    assert "not a Figure" in unstated_points([cell], {})[0]


def printed_lines(outputs: list[Any]) -> set[str]:
    """Every line a cell printed to stdout."""
    return {line.strip() for output in outputs if output.get("name") == "stdout"
            for line in str(output.get("text", "")).splitlines()}


def unstated_points(cells: list[Any], points: dict[str, Any]) -> list[str]:
    """Cells showing a figure whose point is missing, or not printed as one line of that cell."""
    problems = []
    for index, cell in enumerate(cells):
        if cell.cell_type != "code" or not image_digests(cell.outputs):
            continue
        count = str(cell.get("execution_count"))
        if count not in points:
            problems.append(f"cell {index}: shows an image that is not a Figure the cell returned")
        elif not points[count]:
            problems.append(f"cell {index}: its figure states no point (draw it through a result's plot())")
        elif points[count] not in printed_lines(cell.outputs):
            problems.append(f"cell {index}: the figure's point is not printed as a line: {points[count]!r}")
    return problems


def _execute(notebook: Path) -> tuple[Any, dict[str, Any]]:
    """Run the notebook in a fresh kernel with checks in their plain mode: cards are shown, never raised
    (nbval already holds every check to its verdict; here only what is shown counts).
    Returns the executed notebook and the point of each figure its cells returned."""
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(POINTS_PROBE))
    env_mode = os.environ.pop("LABKIT_CHECK_MODE", None)
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(notebook.parent)}}).execute()
    finally:
        if env_mode is not None:
            os.environ["LABKIT_CHECK_MODE"] = env_mode
    probe = nb.cells.pop()
    line = next(text for text in printed_lines(probe.outputs) if text.startswith("LABKIT-POINTS"))
    return nb, json.loads(line.split(" ", 1)[1])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_each_figure_once_and_cards_rendered(notebook: Path) -> None:
    nb, points = _execute(notebook)
    problems = unstated_points(nb.cells, points)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        digests = image_digests(cell.outputs)
        last_line = cell.source.strip().splitlines()[-1] if cell.source.strip() else ""
        if ".plot(" in last_line and not last_line.startswith(("#", "print")) and not digests:
            problems.append(f"cell {index}: ends in {last_line!r} but shows no figure "
                            "(a trailing semicolon hides the Figure it returns)")
        if len(digests) != len(set(digests)):
            problems.append(f"cell {index}: the same image is shown {len(digests) - len(set(digests)) + 1} times "
                            "(a pyplot figure returned as the cell's value? draw with matplotlib.figure.Figure)")
        too_wide = [w for w in png_widths(cell.outputs) if w > MAX_PNG_WIDTH]
        if too_wide:
            problems.append(f"cell {index}: figure(s) {too_wide} px wide, more than JupyterLab's "
                            f"{MAX_PNG_WIDTH} px column: it would be shrunk and its text with it")
        for output in cell.outputs:
            markup = output.get("data", {}).get("text/html")
            if markup:
                leftovers = markdown_in_html(str(markup))
                if leftovers:
                    problems.append(f"cell {index}: raw Markdown in rendered HTML: {leftovers[:3]}")
    assert not problems, f"{notebook.relative_to(ROOT)}:\n" + "\n".join(problems)
