"""The reviewer reads what Python runs, and says plainly what it cannot read."""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.review import review_paths, review_source
from labkit.review.source import newer_syntax

BLOCKING = "import time\n\nasync def poll():\n    time.sleep(1)\n"


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="labkit-review-") as name:
        yield Path(name)


def test_bom_coding_line_and_crlf_files_are_read_like_python(workdir: Path) -> None:
    (workdir / "bom.py").write_bytes(b"\xef\xbb\xbf" + BLOCKING.encode())
    latin = "# -*- coding: latin-1 -*-\nGREETING = 'caf\u00e9'\n" + BLOCKING
    (workdir / "latin.py").write_bytes(latin.encode("latin-1"))
    (workdir / "crlf.py").write_bytes(BLOCKING.replace("\n", "\r\n").encode())
    review = review_paths([workdir])
    assert review.skipped == []
    assert sorted(Path(f.path).name for f in review) == ["bom.py", "crlf.py", "latin.py"]
    assert {f.line for f in review if f.rule == "R1"} == {4, 6}  # latin.py has two lines more


def test_a_notebook_saved_with_a_bom_is_read(workdir: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(BLOCKING)]
    path = workdir / "lesson.ipynb"
    path.write_bytes(b"\xef\xbb\xbf" + nbformat.writes(nb).encode())
    review = review_paths([path])
    assert review.rules() == ["R1"] and not review.skipped


def test_files_that_cannot_be_decoded_are_skipped_with_a_fix(workdir: Path) -> None:
    (workdir / "good.py").write_text(BLOCKING)
    (workdir / "unknown.py").write_bytes(b"# -*- coding: klingon -*-\nx = 1\n")
    (workdir / "bytes.py").write_bytes(b"x = '\xff\xfe'\n")
    (workdir / "notjson.ipynb").write_text("{ not json")
    review = review_paths([workdir, workdir / "notjson.ipynb"])
    assert review.rules() == ["R1"]
    why = {Path(s.path).name: s.why for s in review.skipped}
    assert why["unknown.py"].startswith("bad encoding declaration") and "klingon" in why["unknown.py"]
    assert why["bytes.py"].startswith("line 1: not valid utf-8") and "coding: latin-1" in why["bytes.py"]
    assert why["notjson.ipynb"].startswith("not a notebook (invalid JSON")


@pytest.mark.parametrize(
    ("line", "message", "needs"),
    [
        ("type Pair = tuple[int, int]", "invalid syntax", "3.12"),
        ("def first[T](items: list[T]) -> T:", "expected '('", "3.12"),
        ("class Box[T]:", "expected '('", "3.12"),
        ("label = f\"{row[\"name\"]}\"", "f-string: unmatched '['", "3.12"),
        ("except ValueError, TypeError:", "multiple exception types must be parenthesized", "3.14"),
        ("greeting = t'hello {name}'", "invalid syntax", "3.14"),
    ],
)
def test_newer_syntax_is_named_with_the_python_it_needs(line: str, message: str, needs: str) -> None:
    said = newer_syntax(line, message, running=(3, 11))
    assert said is not None
    assert said.startswith("newer syntax than this Python 3.11") and f"needs Python {needs}+" in said
    assert newer_syntax(line, message, running=(3, 14)) is None  # a new enough Python: a real error


def test_plain_syntax_errors_are_not_called_newer_syntax() -> None:
    assert newer_syntax("def broken(:", "invalid syntax", running=(3, 11)) is None
    assert newer_syntax("x = = 1", "invalid syntax", running=(3, 9)) is None


def test_code_newer_than_this_python_is_skipped_in_one_line(workdir: Path) -> None:
    newer = [(v, code) for v, code in (((3, 12), "type Pair = tuple[int, int]\n"), ((3, 14), "x = t'hi'\n")) if v > sys.version_info[:2]]
    if not newer:
        pytest.skip("this interpreter parses every construct the table knows")
    (workdir / "new.py").write_text(newer[0][1])
    (workdir / "old.py").write_text(BLOCKING)
    review = review_paths([workdir])
    assert review.rules() == ["R1"]
    [skipped] = review.skipped
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert skipped.why.startswith(f"line 1: newer syntax than this Python {running}")
    assert "\n" not in skipped.text()
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# new"), nbformat.v4.new_code_cell("x = 1\n" + newer[0][1])]
    nbformat.write(nb, workdir / "lesson.ipynb")
    [in_cell] = review_paths([workdir / "lesson.ipynb"]).skipped
    assert in_cell.why.startswith(f"cell 1, line 2: newer syntax than this Python {running}")


def test_suppression_comments_keep_their_reason() -> None:
    code = "import time\nasync def f():\n    time.sleep(1)  # labkit: ignore[R1] - runs once, before the loop serves\n"
    review = review_source(code)
    assert not review and review.rules() == []
    [quiet] = review.suppressed
    assert quiet.rule == "R1" and quiet.suppressed == "runs once, before the loop serves"
    assert "suppressed: runs once" in review.text() and "1 suppressed" in review.text()
    bare = review_source("import time\nasync def f():\n    time.sleep(1)  # labkit: ignore\n")
    assert [f.suppressed for f in bare.suppressed] == [""]
    data = json.loads(review.to_json())
    assert data["findings"] == [] and data["suppressed"][0]["reason"] == "runs once, before the loop serves"


def test_notebook_view_shows_suppressed_and_skipped_and_no_green_tick_when_skipping(workdir: Path) -> None:
    quiet = review_source("import time\nasync def f():\n    time.sleep(1)  # labkit: ignore[R1] demo only\n")
    shown = quiet._repr_html_()
    assert "&#10004;" in shown and "suppressed: demo only" in shown
    (workdir / "ok.py").write_text("x = 1\n")
    (workdir / "broken.py").write_text("def broken(:\n")
    partial = review_paths([workdir])._repr_html_()
    assert "&#10004;" not in partial and "broken.py: skipped, line 1: syntax error" in partial
