"""The package's layers, read from its imports: no cycles, and no import that points up a layer.

ARCHITECTURE.md describes the same layers in prose; this test keeps it true.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"

# Lower layers first. A module may import its own layer and the layers below it.
LAYERS: dict[str, int] = {
    "errors": 0, "reporting": 0, "scratch": 0, "markup": 0,
    "redis": 1, "model": 1,
    "tasks": 2, "instruments": 2, "review": 2,
    "figures": 3,
    "lessons": 4,
    "exercises": 5,
    "cli": 6,
}
# Mechanisms and instruments draw nothing and show no widgets.
VIEW_LIBRARIES = ("matplotlib", "ipywidgets")
MECHANISMS = ("redis", "model", "tasks", "instruments", "review")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _enclosing_function(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> str:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return node.name
    return ""


def imports_of(path: Path) -> list[tuple[str, int, str]]:
    """(imported module, line, enclosing function or "") for every runtime import."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Import, ast.ImportFrom)) or _in_type_checking(node, parents):
            continue
        where = _enclosing_function(node, parents)
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, where) for alias in node.names]
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:  # `from . import store` names a module, not an attribute
            candidate = f"{base}.{alias.name}"
            is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py").exists() or (
                PACKAGE.parent / candidate.replace(".", "/") / "__init__.py").exists()
            found.append((candidate if is_module else base, node.lineno, where))
    return found


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.get(parts[1]) if len(parts) > 1 else None


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target, _, _ in imports_of(path):
            # importing a.b.c imports a.b's __init__ too; a module's own package does not count
            if target in mods and target != mod and not mod.startswith(target + "."):
                edges[mod].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_every_module_belongs_to_a_layer():
    unplaced = [m for m in modules() if m not in ("labkit", "labkit.__main__") and layer_of(m) is None]
    assert unplaced == [], f"put these in a layer folder (or add the folder to LAYERS and ARCHITECTURE.md): {unplaced}"


def test_no_import_cycles():
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def violations() -> list[str]:
    found = []
    for mod, path in modules().items():
        mine = layer_of(mod)
        if mine is None:
            continue
        for target, line, function in imports_of(path):
            where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
            theirs = layer_of(target) if target.startswith("labkit.") else None
            is_view = target.startswith(VIEW_LIBRARIES) or target.split(".")[0] in {"matplotlib", "ipywidgets"}
            if mod.split(".")[1] in MECHANISMS and is_view:
                found.append(f"{where}: mechanisms draw nothing (move the drawing to labkit/figures or a lesson)")
            if theirs is None or theirs <= mine:
                continue
            # The one sanctioned upward edge: a result's thin plot() method draws with labkit.figures, lazily.
            if target.startswith("labkit.figures.") and function == "plot":
                continue
            found.append(f"{where}: layer {mine} may not import layer {theirs}")
    return found


def test_no_import_points_up_a_layer():
    assert violations() == []


@pytest.mark.parametrize("heavy", ["matplotlib", "ipywidgets"])
def test_import_labkit_stays_light(heavy):
    code = f"import sys, labkit; sys.exit(1 if any(m == '{heavy}' or m.startswith('{heavy}.') for m in sys.modules) else 0)"
    assert subprocess.run([sys.executable, "-c", code], cwd=PACKAGE.parent).returncode == 0, (
        f"`import labkit` loaded {heavy}; import it inside the function that draws")


NOTEBOOKS = PACKAGE.parent / "notebooks"


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.rglob("*.ipynb")), ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_notebooks_import_the_public_api(notebook):
    import nbformat

    deep = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            words = line.split()
            if len(words) > 1 and words[0] in ("from", "import") and words[1].startswith("labkit."):
                deep.add(words[1])
    lessons = {m for m in deep if m.startswith("labkit.lessons.")}
    assert deep - lessons == set(), "import these from `labkit` (add them to labkit/__init__.py)"
    assert len(lessons) <= 1, f"a notebook imports `labkit` and at most one lesson module, not {sorted(lessons)}"
