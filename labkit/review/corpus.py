"""Score the reviewer against a labelled corpus of snippets.

An entry is one file, or a folder of files reviewed together (so calls and
imports between them count, as in a real package). Each file declares what the reviewer should find on its first line:
``# expect: R1:5 R3:12`` (rule and line of every finding) or ``# expect: none``.
An optional second line ``# known-limits: miss:R1:8 extra:R5:13`` records where
the reviewer is known to be wrong on that snippet: the benchmark counts those
against precision and recall, and the tests hold the reviewer to exactly that.
The benchmark and the tests share this, so both read the labels the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import ReviewConfig
from .engine import review_paths
from .findings import RULES
from .source import ReviewError

_HEADER = re.compile(r"^#\s*expect:\s*(?P<body>.*)$")
_ITEM = re.compile(r"^(R[1-5]):(\d+)$")
_LIMITS = re.compile(r"^#\s*known-limits:\s*(?P<body>.*)$")
_LIMIT = re.compile(r"^(miss|extra):(R[1-5]):(\d+)$")


def expected_findings(path: Path) -> set[tuple[str, int]]:
    """The (rule, line) pairs a snippet's first line declares."""
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    match = _HEADER.match(first[0].strip()) if first else None
    if not match:
        raise ReviewError(f"{path}, line 1: a corpus snippet must start with '# expect: R1:5 ...' or '# expect: none'")
    body = match.group("body").split()
    if body == ["none"]:
        return set()
    pairs = set()
    for item in body:
        parsed = _ITEM.match(item)
        if not parsed:
            raise ReviewError(f"{path}, line 1: {item!r} is not RULE:LINE (e.g. R3:12)")
        pairs.add((parsed.group(1), int(parsed.group(2))))
    return pairs


def known_limits(path: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
    """(findings the reviewer is known to miss, findings it is known to add wrongly)."""
    lines = path.read_text(encoding="utf-8").splitlines()[:2]
    match = _LIMITS.match(lines[1].strip()) if len(lines) > 1 else None
    missed: set[tuple[str, int]] = set()
    extra: set[tuple[str, int]] = set()
    if match:
        for item in match.group("body").split():
            parsed = _LIMIT.match(item)
            if not parsed:
                raise ReviewError(f"{path}, line 2: {item!r} is not miss:RULE:LINE or extra:RULE:LINE")
            (missed if parsed.group(1) == "miss" else extra).add((parsed.group(2), int(parsed.group(3))))
    return missed, extra


@dataclass
class Score:
    """Per-rule true positives, false positives and false negatives over a corpus."""

    tp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    fp: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    fn: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RULES, 0))
    mismatches: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)
    files: int = 0

    def precision(self, rule: str) -> float:
        found = self.tp[rule] + self.fp[rule]
        return self.tp[rule] / found if found else 1.0

    def recall(self, rule: str) -> float:
        wanted = self.tp[rule] + self.fn[rule]
        return self.tp[rule] / wanted if wanted else 1.0


def entries(folder: Path) -> list[Path]:
    """The corpus entries: each top-level ``.py`` file and each sub-folder (a multi-file entry)."""
    folder = Path(folder)
    return sorted([*folder.glob("*.py"), *(d for d in folder.iterdir() if d.is_dir() and d.name != "__pycache__")])


def labelled_files(entry: Path) -> list[Path]:
    """The files of one entry that carry labels (an empty ``__init__.py`` carries none)."""
    if entry.is_file():
        return [entry]
    return sorted(p for p in entry.rglob("*.py") if p.read_text(encoding="utf-8").strip())


def findings_by_file(entry: Path, config: ReviewConfig | None = None) -> dict[Path, set[tuple[str, int]]]:
    """Review one entry as a whole; its (rule, line) findings grouped by file."""
    out: dict[Path, set[tuple[str, int]]] = {p.resolve(): set() for p in labelled_files(entry)}
    for finding in review_paths([entry], config=config):
        out.setdefault(Path(finding.path).resolve(), set()).add((finding.rule, finding.line))
    return out


def score(folder: Path, config: ReviewConfig | None = None) -> Score:
    """Review every entry in ``folder`` on its own and compare with its labels."""
    result = Score()
    for entry in entries(folder):
        found = findings_by_file(entry, config)
        for path in labelled_files(entry):
            _tally(result, str(path.relative_to(folder)), path, found.get(path.resolve(), set()))
    return result


def _tally(result: Score, name: str, path: Path, got: set[tuple[str, int]]) -> None:
    expected = expected_findings(path)
    result.files += 1
    for rule, _ in got & expected:
        result.tp[rule] += 1
    for rule, _ in got - expected:
        result.fp[rule] += 1
    for rule, _ in expected - got:
        result.fn[rule] += 1
    if got != expected:
        result.mismatches[name] = (
            sorted(f"{r}:{n}" for r, n in expected - got),
            sorted(f"{r}:{n}" for r, n in got - expected),
        )
