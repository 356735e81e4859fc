"""Turn files, notebooks and cell text into parsed sources with their suppressions.

Reading is separate from judging: the rules see one ``Source`` (a parsed
module plus where each line came from), whatever the input was. Files are read
the way Python reads them (a UTF-8 BOM, a ``# -*- coding: ... -*-`` line), so
whatever the interpreter runs, the reviewer reads.
"""

from __future__ import annotations

import ast
import io
import json
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LabError
from .findings import Skipped

SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv", "build", "dist", "node_modules"}
_SUPPRESS = re.compile(r"labkit:\s*ignore(?P<file>-file)?(?:\[(?P<rules>[^\]]*)\])?(?P<reason>.*)", re.IGNORECASE)
ALL = "*"

# Syntax this interpreter may be too old for: (first Python that accepts it, what
# it is, a pattern for the line the parser stopped at). A syntax error on such a
# line is reported as "newer syntax", not as broken code.
_NEWER_SYNTAX: tuple[tuple[tuple[int, int], str, re.Pattern[str]], ...] = (
    ((3, 10), "a match statement", re.compile(r"^\s*match\b.+:\s*(#.*)?$")),
    ((3, 11), "except*", re.compile(r"^\s*except\s*\*")),
    ((3, 12), "a type statement", re.compile(r"^\s*type\s+[A-Za-z_]\w*\s*(\[.*\])?\s*=")),
    ((3, 12), "type parameters", re.compile(r"^\s*(async\s+)?(def|class)\s+[A-Za-z_]\w*\s*\[")),
    ((3, 14), "several exception types without parentheses", re.compile(r"^\s*except\s+[A-Za-z_][\w.]*\s*,")),
    ((3, 14), "a template string", re.compile(r"(?<![\w'\"])([tT][rR]?|[rR][tT])['\"]")),
)
_FSTRING_PEP701 = (3, 12)  # quotes, backslashes and comments inside f-string braces


class ReviewError(LabError):
    """The reviewer could not read or parse its input; the message names the file and line."""


class SourceError(ReviewError):
    """One file or cell could not be read or parsed: ``why`` says what, without the path."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: cannot review, {why}")
        self.path = path
        self.why = why

    def skipped(self) -> Skipped:
        return Skipped(self.path, self.why)


@dataclass
class Source:
    """One parsed module, with suppression comments and (for notebooks) cell positions."""

    path: str
    text: str
    tree: ast.Module
    # line number in ``text`` -> (cell number, line in cell), notebooks only
    cells: dict[int, tuple[int, int]] = field(default_factory=dict)
    # line -> {rule: reason given in the comment}; ALL stands for every rule
    ignored: dict[int, dict[str, str]] = field(default_factory=dict)
    ignored_file: dict[str, str] = field(default_factory=dict)

    def where(self, line: int) -> str:
        if line in self.cells:
            cell, cell_line = self.cells[line]
            return f"cell {cell}, line {cell_line}"
        return f"line {line}"

    def suppression(self, rule: str, first: int, last: int) -> str | None:
        """The reason a finding spanning ``first..last`` is suppressed ('' if the
        comment gives none), or None when it is not. A comment counts on any of
        those lines, on the comment-only line just above, or file-wide."""
        for rules in (self.ignored_file, *(self._ignored_at(line, first) for line in range(first - 1, last + 1))):
            if rule in rules:
                return rules[rule]
            if ALL in rules:
                return rules[ALL]
        return None

    def _ignored_at(self, line: int, first: int) -> dict[str, str]:
        if line == first - 1 and not self._comment_only(line):
            return {}
        return self.ignored.get(line, {})

    def _comment_only(self, line: int) -> bool:
        lines = self.text.splitlines()
        return 0 < line <= len(lines) and lines[line - 1].lstrip().startswith("#")


def newer_syntax(line: str, message: str, running: tuple[int, int] | None = None) -> str | None:
    """Say which newer Python ``line`` needs, when a syntax error there is most
    likely syntax that the ``running`` interpreter (default: this one) predates."""
    running = running or (sys.version_info.major, sys.version_info.minor)
    needed = [(version, what) for version, what, pattern in _NEWER_SYNTAX if pattern.search(line)]
    if message.startswith("f-string"):
        needed.append((_FSTRING_PEP701, "quotes, backslashes or comments inside an f-string's braces"))
    newer = [(version, what) for version, what in needed if version > running]
    if not newer:
        return None
    version, what = min(newer)
    wanted = f"{version[0]}.{version[1]}"
    return (
        f"newer syntax than this Python {running[0]}.{running[1]}: {what} needs Python {wanted}+; "
        f"run the review under Python {wanted} or later"
    )


def parse(text: str, path: str = "<code>", cells: dict[int, tuple[int, int]] | None = None) -> Source:
    """Parse ``text``; a syntax error becomes a SourceError naming the file and line."""
    if not isinstance(text, str):
        raise ReviewError(f"{path}: expected Python source as a str, got {type(text).__name__}")
    cells = cells or {}
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        line = exc.lineno or 0
        where = f"cell {cells[line][0]}, line {cells[line][1]}" if line in cells else f"line {line}"
        lines = text.splitlines()
        newer = newer_syntax(lines[line - 1] if 0 < line <= len(lines) else "", exc.msg)
        raise SourceError(path, f"{where}: {newer or 'syntax error: ' + exc.msg}") from None
    source = Source(path, text, tree, cells)
    _read_suppressions(source)
    return source


def _read_suppressions(source: Source) -> None:
    if not _SUPPRESS.search(source.text):  # most files have none: skip tokenizing them
        return
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
        reason = match.group("reason").strip(" \t:-\u2013\u2014")
        target = source.ignored_file if match.group("file") else source.ignored.setdefault(token.start[0], {})
        target.update(dict.fromkeys(rules, reason))


def notebook_source(path: Path) -> Source:
    """A notebook's code cells as one module; magics and shell lines are blanked."""
    try:
        data = json.loads(path.read_bytes())  # JSON finds its own encoding, BOM or not
    except OSError as exc:
        raise SourceError(str(path), f"unreadable: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SourceError(str(path), f"not a notebook (invalid JSON: {exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells", []), list):
        raise SourceError(str(path), "not a notebook (no list of cells)")
    lines: list[str] = []
    cells: dict[int, tuple[int, int]] = {}
    for number, cell in enumerate(data.get("cells", [])):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
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


def read_python(path: Path) -> str:
    """A .py file's text as Python decodes it (``tokenize.open``): a BOM or a coding
    line picks the encoding, UTF-8 otherwise, and newlines become ``\\n``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceError(str(path), f"unreadable: {exc.strerror or exc}") from None
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing" not in exc.msg:  # an unknown encoding, or one contradicting the BOM
            raise SourceError(str(path), f"bad encoding declaration: {exc.msg}") from None
        encoding = "utf-8"  # no declaration and a first line that is not UTF-8: decoding says where
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            str(path),
            f"line {line}: not valid {exc.encoding} (byte {data[exc.start:exc.start + 1]!r}); if the file uses "
            "another encoding, declare it on its first line, e.g. # -*- coding: latin-1 -*-",
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def file_source(path: Path) -> Source:
    if path.suffix == ".ipynb":
        return notebook_source(path)
    return parse(read_python(path), str(path))


def read_sources(paths: list[Path]) -> tuple[list[Source], list[Skipped]]:
    """Parse every file that can be parsed; each one that cannot is skipped, with why."""
    sources: list[Source] = []
    skipped: list[Skipped] = []
    for path in paths:
        try:
            sources.append(file_source(path))
        except SourceError as exc:
            skipped.append(exc.skipped())
    return sources, skipped


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
            below = [c for c in sorted(path.rglob("*.py")) if not (SKIP_DIRS & set(c.relative_to(path).parts))]
            if not below:
                raise ReviewError(f"{path}: no .py files in this folder; name notebooks (.ipynb) one by one")
            found += below
        elif path.suffix in (".py", ".pyi", ".ipynb") or _python_script(path):
            found.append(path)
        else:
            raise ReviewError(
                f"{path}: not a Python file or notebook (expected .py, .pyi, .ipynb or a script starting #!...python)"
            )
    return found


def _python_script(path: Path) -> bool:
    """A script named without .py whose first line runs Python, as pre-commit's ``types: [python]`` picks it."""
    try:
        with path.open("rb") as handle:
            first = handle.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first
