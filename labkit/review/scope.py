"""What the rules need to know about a module: scopes, imports and Redis clients.

Every rule asks the same questions (is this call inside an ``async def``? what
does this name refer to? is this object a blocking Redis client?), so they are
answered once here, from the syntax tree alone.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Iterator

from .source import Source

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of names and attributes; ``a.b().c`` gives ``a.b.c``."""
    parts: list[str] = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        else:
            return ".".join(reversed(parts)) if parts else None


def plain_dotted(node: ast.AST) -> str | None:
    """Like :func:`dotted` but only for pure name/attribute chains (no calls)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def walk_scope(node: ast.AST) -> Iterator[ast.AST]:
    """Nodes that run when ``node``'s scope runs: nested defs and lambdas are
    other scopes (their bodies run later, maybe on another thread).

    Every rule walks the same bodies many times, so the walk is kept on the node."""
    cached = getattr(node, "_labkit_walk", None)
    if cached is None:
        cached = []
        todo = list(ast.iter_child_nodes(node))
        while todo:
            child = todo.pop()
            cached.append(child)
            if not isinstance(child, SCOPE_NODES):
                todo.extend(ast.iter_child_nodes(child))
        cached = tuple(cached)
        node._labkit_walk = cached  # type: ignore[attr-defined]
    return iter(cached)


def ordered(nodes: Iterator[ast.AST]) -> list[ast.AST]:
    return sorted(nodes, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))


@dataclass
class Scope:
    """A function body, a lambda, or the module's top level."""

    node: ast.AST
    name: str
    class_name: str | None
    is_async: bool

    @property
    def key(self) -> str:
        return f"{self.class_name}.{self.name}" if self.class_name else self.name


def module_name(path: str) -> str:
    """``pkg/sub/mod.py`` -> ``pkg.sub.mod``, climbing while a folder has ``__init__.py``."""
    if not path.endswith(".py"):
        return os.path.splitext(os.path.basename(path))[0]
    folder, base = os.path.split(os.path.abspath(path))
    parts = [] if base == "__init__.py" else [base[:-3]]
    while os.path.exists(os.path.join(folder, "__init__.py")):
        folder, name = os.path.split(folder)
        parts.append(name)
    return ".".join(reversed(parts)) or base[:-3]


class ModuleInfo:
    """One parsed module, indexed for the rules."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.tree = source.tree
        self.path = source.path
        self.name = module_name(source.path)
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(self.tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent
        self.imports: dict[str, str] = {}
        self.local_defs: set[str] = set()
        self._read_imports()
        self.module_scope = Scope(self.tree, "<module>", None, False)
        self.scopes: list[Scope] = [self.module_scope]
        self._scope_of: dict[ast.AST, Scope] = {self.tree: self.module_scope}
        for node in ast.walk(self.tree):
            if isinstance(node, SCOPE_NODES):
                parent = self.parents.get(node)
                class_name = parent.name if isinstance(parent, ast.ClassDef) else None
                name = getattr(node, "name", "<lambda>")
                scope = Scope(node, name, class_name, isinstance(node, ast.AsyncFunctionDef))
                self.scopes.append(scope)
                self._scope_of[node] = scope

    # -- names -------------------------------------------------------------
    def _read_imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.imports[top] = top
            elif isinstance(node, ast.ImportFrom):
                base = self._absolute(node.module, node.level)
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.local_defs.add(node.name)

    def _absolute(self, module: str | None, level: int) -> str:
        """``from ..x import y`` inside ``pkg.sub.mod`` -> ``pkg.x``."""
        if not level:
            return module or ""
        package = self.name.split(".")
        if not self.path.endswith("__init__.py"):
            package = package[:-1]
        package = package[: len(package) - (level - 1)] if level > 1 else package
        return ".".join([*package, module] if module else package)

    def resolve(self, node: ast.AST) -> str | None:
        """The canonical dotted name of a call's target, imports expanded."""
        name = dotted(node)
        if not name:
            return None
        head, _, rest = name.partition(".")
        if head in self.imports:
            head = self.imports[head]
        elif head in self.local_defs:
            head = "." + head
        return f"{head}.{rest}" if rest else head

    # -- scopes ------------------------------------------------------------
    def scope_of(self, node: ast.AST) -> Scope:
        """The innermost scope whose body runs ``node``."""
        current = self.parents.get(node)
        while current is not None:
            if current in self._scope_of:
                return self._scope_of[current]
            current = self.parents.get(current)
        return self.module_scope

    def is_awaited(self, node: ast.AST) -> bool:
        return isinstance(self.parents.get(node), ast.Await)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        current = self.parents.get(node)
        while current is not None:
            yield current
            current = self.parents.get(current)
