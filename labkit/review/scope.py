"""What the rules need to know about a module: scopes, imports and Redis clients.

Every rule asks the same questions (is this call inside an ``async def``? what
does this name refer to? is this object a blocking Redis client?), so they are
answered once here, from the syntax tree alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator

from .source import Source

SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)

SYNC_REDIS = {
    "redis.Redis",
    "redis.StrictRedis",
    "redis.client.Redis",
    "redis.Redis.from_url",
    "redis.StrictRedis.from_url",
    "redis.from_url",
    "redis.Redis.from_pool",
}
ASYNC_REDIS = {
    "redis.asyncio.Redis",
    "redis.asyncio.StrictRedis",
    "redis.asyncio.client.Redis",
    "redis.asyncio.Redis.from_url",
    "redis.asyncio.from_url",
    "redis.asyncio.Redis.from_pool",
}


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
    other scopes (their bodies run later, maybe on another thread)."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        child = todo.pop()
        yield child
        if not isinstance(child, SCOPE_NODES):
            todo.extend(ast.iter_child_nodes(child))


def ordered(nodes: Iterator[ast.AST]) -> list[ast.AST]:
    return sorted(nodes, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0)))


@dataclass
class Scope:
    """A function body, a lambda, or the module's top level."""

    node: ast.AST
    name: str
    class_name: str | None
    is_async: bool
    clients: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.class_name}.{self.name}" if self.class_name else self.name


class ModuleInfo:
    """One parsed module, indexed for the rules."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.tree = source.tree
        self.path = source.path
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
        self.attr_clients: dict[str, str] = {}
        for scope in self.scopes:
            self._read_clients(scope)

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
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.local_defs.add(node.name)

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

    # -- Redis clients -----------------------------------------------------
    def _client_kind_of_value(self, value: ast.AST | None, scope: Scope) -> str | None:
        if isinstance(value, ast.Await):
            value = value.value
        if not isinstance(value, ast.Call):
            return None
        name = self.resolve(value.func) or ""
        attr = last_name(value.func)
        if name in SYNC_REDIS or attr == "sync_client":
            return "sync"
        if name in ASYNC_REDIS or attr == "async_client":
            return "async"
        if attr == "pipeline" and isinstance(value.func, ast.Attribute):
            if self.client_kind(value.func.value, scope) == "sync":
                return "sync-pipe"
        return None

    def _annotation_kind(self, annotation: ast.AST | None) -> str | None:
        if annotation is None:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        for node in ast.walk(annotation):
            if isinstance(node, (ast.Name, ast.Attribute)):
                name = self.resolve(node)
                if name in ASYNC_REDIS:
                    return "async"
                if name in SYNC_REDIS:
                    return "sync"
        return None

    def _read_clients(self, scope: Scope) -> None:
        node = scope.node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                kind = self._annotation_kind(arg.annotation)
                if kind:
                    scope.clients[arg.arg] = kind
        for child in ordered(walk_scope(node)):
            pairs: list[tuple[ast.AST, ast.AST | None]] = []
            if isinstance(child, ast.Assign):
                pairs = [(t, child.value) for t in child.targets]
            elif isinstance(child, ast.AnnAssign):
                kind = self._annotation_kind(child.annotation)
                if kind:
                    self._record_client(child.target, kind, scope)
                pairs = [(child.target, child.value)]
            elif isinstance(child, ast.withitem) and child.optional_vars is not None:
                pairs = [(child.optional_vars, child.context_expr)]
            for target, value in pairs:
                kind = self._client_kind_of_value(value, scope)
                if kind:
                    self._record_client(target, kind, scope)

    def _record_client(self, target: ast.AST, kind: str, scope: Scope) -> None:
        name = plain_dotted(target)
        if not name:
            return
        if "." in name:
            self.attr_clients[name] = kind
        elif scope is self.module_scope:
            self.module_scope.clients[name] = kind
        else:
            scope.clients[name] = kind

    def client_kind(self, receiver: ast.AST, scope: Scope) -> str | None:
        """``sync``, ``async`` or ``sync-pipe`` when ``receiver`` is a known Redis client."""
        name = plain_dotted(receiver)
        if name is None:
            kind = self._client_kind_of_value(receiver, scope)
            return kind
        if "." in name:
            return self.attr_clients.get(name)
        return scope.clients.get(name) or (
            self.module_scope.clients.get(name) if name not in _assigned_names(scope) else None
        )


def _assigned_names(scope: Scope) -> set[str]:
    """Names a function binds itself (they hide module-level clients of the same name)."""
    cached = getattr(scope, "_assigned", None)
    if cached is not None:
        return cached
    names: set[str] = set()
    node = scope.node
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        names |= {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        if isinstance(node, ast.Lambda):
            setattr(scope, "_assigned", names)
            return names
    if scope.node.__class__ is not ast.Module:
        for child in walk_scope(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
    names -= set(scope.clients)
    setattr(scope, "_assigned", names)
    return names
