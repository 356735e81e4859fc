"""Turn files, notebooks and cell text into parsed sources with their suppressions.

Reading is separate from judging: the rules see one ``Source`` (a parsed
module plus where each line came from), whatever the input was.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabError

SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "build", "dist", "node_modules"}
_SUPPRESS = re.compile(r"labkit:\s*ignore(?P<file>-file)?(?:\[(?P<rules>[^\]]*)\])?", re.IGNORECASE)
ALL = "*"


class ReviewError(LabError):
    """The reviewer could not read or parse its input; the message names the file and line."""


@dataclass
class Source:
    """One parsed module, with suppression comments and (for notebooks) cell positions."""

    path: str
    text: str
    tree: ast.Module
    # line number in ``text`` -> (cell number, line in cell), notebooks only
    cells: dict[int, tuple[int, int]] = field(default_factory=dict)
    # line -> rules ignored on it; ALL means every rule
    ignored: dict[int, set[str]] = field(default_factory=dict)
    ignored_file: set[str] = field(default_factory=set)

    def where(self, line: int) -> str:
        if line in self.cells:
            cell, cell_line = self.cells[line]
            return f"cell {cell}, line {cell_line}"
        return f"line {line}"

    def is_ignored(self, rule: str, first: int, last: int) -> bool:
        """A finding spanning ``first..last`` is suppressed by a comment on any of
        those lines, on the comment-only line just above, or file-wide."""
        if rule in self.ignored_file or ALL in self.ignored_file:
            return True
        for line in range(first - 1, last + 1):
            rules = self.ignored.get(line)
            if rules and (rule in rules or ALL in rules):
                if line == first - 1 and not self._comment_only(line):
                    continue
                return True
        return False

    def _comment_only(self, line: int) -> bool:
        lines = self.text.splitlines()
        return 0 < line <= len(lines) and lines[line - 1].lstrip().startswith("#")


def parse(text: str, path: str = "<code>", cells: dict[int, tuple[int, int]] | None = None) -> Source:
    """Parse ``text``; a syntax error becomes a ReviewError naming the file and line."""
    if not isinstance(text, str):
        raise ReviewError(f"{path}: expected Python source as a str, got {type(text).__name__}")
    cells = cells or {}
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 0
        where = f"cell {cells[line][0]}, line {cells[line][1]}" if line in cells else f"line {line}"
        raise ReviewError(f"{path}, {where}: cannot review, syntax error: {exc.msg}") from None
    source = Source(path, text, tree, cells)
    _read_suppressions(source)
    return source


def _read_suppressions(source: Source) -> None:
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source.text).readline))
    except (tokenize.TokenError, SyntaxError):  # already parsed, so this is rare
        return
    for token in tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = _SUPPRESS.search(token.string)
        if not match:
            continue
        listed = match.group("rules")
        rules = {r.strip().upper() for r in listed.split(",") if r.strip()} if listed else {ALL}
        if match.group("file"):
            source.ignored_file |= rules
        else:
            source.ignored.setdefault(token.start[0], set()).update(rules)


def notebook_source(path: Path) -> Source:
    """A notebook's code cells as one module; magics and shell lines are blanked."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReviewError(f"{path}: cannot read this notebook: {exc}") from None
    lines: list[str] = []
    cells: dict[int, tuple[int, int]] = {}
    for number, cell in enumerate(data.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        text = cell.get("source", "")
        text = "".join(text) if isinstance(text, list) else str(text)
        cell_magic = text.lstrip().startswith("%%")
        for cell_line, line in enumerate(text.splitlines(), 1):
            stripped = line.lstrip()
            if cell_magic or stripped.startswith(("%", "!")):
                line = ""
            lines.append(line)
            cells[len(lines)] = (number, cell_line)
        lines.append("")
    return parse("\n".join(lines) + "\n", str(path), cells)


def file_source(path: Path) -> Source:
    if path.suffix == ".ipynb":
        return notebook_source(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReviewError(f"{path}: cannot read this file: {exc}") from None
    return parse(text, str(path))


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files to review: each file named, and every .py file under each folder named."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise ReviewError(f"{path}: no such file or folder")
        if path.is_dir():
            for candidate in sorted(path.rglob("*.py")):
                if not (SKIP_DIRS & set(candidate.relative_to(path).parts)):
                    found.append(candidate)
        elif path.suffix in (".py", ".ipynb"):
            found.append(path)
        else:
            raise ReviewError(f"{path}: not a Python file or notebook (expected .py or .ipynb)")
    return found
