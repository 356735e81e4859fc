"""How right the five-rule reviewer is on real worker and task-queue libraries (and redis-py).

Run ``python benchmarks/review_real.py``. It fetches pinned releases from PyPI
into a cache at run time (``pypi_cache.py``; nothing of their code is in this
repository), reviews each library's package as one tree, and judges every
finding against ``review_expectations.toml``: the findings that were read in
the library's code and judged true (file, function, rule, one line why).
Everything else counts as a false positive. Beside it, ruff's ASYNC rules
(``ruff check --select ASYNC``, from the ``test`` extra) on the same files.

Prints per library: lines, seconds, findings, true, false, ruff's count; then
overall precision and false positives per 10k lines. The last line printed is
one JSON object.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pypi_cache import fetch

from labkit.review import Finding, review_paths
from labkit.review.source import expand_paths

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the test extra installs tomli there
    import tomli as tomllib

LIBRARIES = [
    ("rq", "3.0.0"),
    ("arq", "0.28.0"),
    ("saq", "0.26.4"),
    ("celery", "5.7.0"),
    ("dramatiq", "2.2.1"),
    ("huey", "3.5.4"),
    ("taskiq", "0.13.0"),
    ("redis", "8.1.0"),  # the client most of them use: sync and asyncio APIs side by side, a hard case for R1/R2
]
EXPECTATIONS = Path(__file__).with_name("review_expectations.toml")
TARGET = {"precision": 0.9, "false_per_10k_lines": 1.0}


def packages(root: Path) -> list[Path]:
    """The importable packages inside an unpacked wheel (not its metadata)."""
    return sorted(d for d in root.iterdir() if d.is_dir() and (d / "__init__.py").exists())


def function_at(path: Path, line: int, cache: dict[Path, list[tuple[int, int, str]]]) -> str:
    """``Class.method`` (or ``function``) whose body holds ``line``; ``<module>`` outside any."""
    if path not in cache:
        spans: list[tuple[int, int, str]] = []

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        spans.append((child.lineno, child.end_lineno or child.lineno, name))
                    visit(child, f"{name}.")
                else:
                    visit(child, prefix)

        visit(ast.parse(path.read_bytes()), "")
        cache[path] = spans
    inside = [(first, name) for first, last, name in cache[path] if first <= line <= last]
    return max(inside)[1] if inside else "<module>"


def load_expectations() -> dict[tuple[str, str, str, str], str]:
    data = tomllib.loads(EXPECTATIONS.read_text(encoding="utf-8"))
    out = {}
    for entry in data.get("true", []):
        missing = {"library", "file", "function", "rule", "why"} - set(entry)
        if missing:
            raise SystemExit(f"{EXPECTATIONS.name}: an entry lacks {', '.join(sorted(missing))}: {entry}")
        out[(entry["library"], entry["file"], entry["function"], entry["rule"])] = entry["why"]
    return out


def ruff_async(files: list[Path]) -> dict[str, object]:
    """ruff's ASYNC findings on the same files (isolated: no project config applies)."""
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        raise SystemExit("ruff is not installed: pip install -e '.[test]' (it is in the test extra)")
    run = subprocess.run(
        [ruff, "check", "--isolated", "--no-cache", "--select", "ASYNC", "--output-format", "json", "--exit-zero",
         *map(str, files)],
        capture_output=True, text=True, check=True,
    )
    codes = Counter(item["code"] for item in json.loads(run.stdout or "[]"))
    return {"findings": sum(codes.values()), "by_code": dict(sorted(codes.items()))}


def judge(name: str, root: Path, findings: list[Finding], expected: dict, spans: dict) -> list[dict[str, object]]:
    judged = []
    for finding in findings:
        path = Path(finding.path)
        relative = path.resolve().relative_to(root.resolve()).as_posix()
        function = function_at(path, finding.line, spans)
        why = expected.get((name, relative, function, finding.rule))
        judged.append({"file": relative, "line": finding.line, "function": function, "rule": finding.rule,
                       "true": why is not None, "why": why or finding.message})
    return judged


def main() -> None:
    expected = load_expectations()
    spans: dict[Path, list[tuple[int, int, str]]] = {}
    rows: dict[str, dict[str, object]] = {}
    matched: set[tuple[str, str, str, str]] = set()
    for name, version in LIBRARIES:
        root = fetch(name, version)
        trees = packages(root)
        files = expand_paths(trees)
        lines = sum(len(path.read_bytes().splitlines()) for path in files)
        began = time.perf_counter()
        review = review_paths(trees)
        seconds = time.perf_counter() - began
        judged = judge(name, root, list(review), expected, spans)
        matched |= {(name, j["file"], j["function"], j["rule"]) for j in judged if j["true"]}
        for j in judged:
            mark = "true " if j["true"] else "FALSE"
            print(f"  {mark} {name} {j['file']}:{j['line']} {j['rule']} in {j['function']}: {j['why']}")
        true = sum(1 for j in judged if j["true"])
        rows[name] = {
            "version": version, "files": len(files), "lines": lines, "seconds": round(seconds, 2),
            "findings": len(judged), "true": true, "false": len(judged) - true,
            "by_rule": dict(Counter(j["rule"] for j in judged)), "skipped": len(getattr(review, "skipped", [])),
            "ruff_async": ruff_async(files),
        }
        print(f"{name}=={version}: {lines} lines, {rows[name]['seconds']} s, {len(judged)} findings "
              f"({true} true), ruff ASYNC {rows[name]['ruff_async']['findings']}", flush=True)  # type: ignore[index]
    unmatched = sorted(set(expected) - matched)
    for entry in unmatched:
        print(f"  expected but not found: {entry}")
    total_true = sum(int(r["true"]) for r in rows.values())  # type: ignore[call-overload]
    total_false = sum(int(r["false"]) for r in rows.values())  # type: ignore[call-overload]
    total_lines = sum(int(r["lines"]) for r in rows.values())  # type: ignore[call-overload]
    found = total_true + total_false
    precision = total_true / found if found else 1.0
    false_per_10k = total_false * 10_000 / total_lines
    print(json.dumps({
        "libraries": rows,
        "lines": total_lines,
        "findings": found,
        "true": total_true,
        "false": total_false,
        "precision": round(precision, 3),
        "false_per_10k_lines": round(false_per_10k, 2),
        "expected_not_found": len(unmatched),
        "ruff_async_findings": sum(int(r["ruff_async"]["findings"]) for r in rows.values()),  # type: ignore[index]
        "target_met": precision >= TARGET["precision"] and false_per_10k <= TARGET["false_per_10k_lines"],
    }))


if __name__ == "__main__":
    main()
