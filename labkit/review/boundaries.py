"""Rule 2: sync/async boundaries the callers do not support.

Three shapes, all decided from call sites in the analysed code:

* an ``async def`` whose every caller is sync code that just calls it (the
  caller gets a coroutine, which is truthy, and the body never runs);
* a coroutine called and dropped, or tested for truth, without ``await``;
* a coroutine bridge used backwards: ``asyncio.run`` / ``run_until_complete``
  inside a running loop, or an ``async def`` handed to an API that calls its
  callback synchronously (signal handlers, atexit, widget callbacks, threads).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .blocking import CLIENT_LOCAL
from .findings import Finding
from .scope import ModuleInfo, Scope, last_name, plain_dotted, walk_scope

KNOWN_COROUTINES = {
    "asyncio.sleep",
    "asyncio.wait_for",
    "asyncio.to_thread",
    "asyncio.wait",
    "asyncio.open_connection",
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
}
# API -> which positional argument (or keyword) is called synchronously.
SYNC_CALLBACK_APIS: dict[str, tuple[int, str | None]] = {
    "signal.signal": (1, "handler"),
    "atexit.register": (0, None),
    "add_signal_handler": (1, None),
    "on_click": (0, None),
    "on_submit": (0, None),
    "observe": (0, "handler"),
    "call_soon": (0, None),
    "call_soon_threadsafe": (0, None),
    "call_later": (1, None),
    "call_at": (1, None),
    "add_done_callback": (0, None),
    "threading.Thread": (99, "target"),
    "threading.Timer": (1, "function"),
    "run_in_executor": (1, None),
    "asyncio.to_thread": (0, None),
}
COMMON_METHODS = {
    "run", "start", "stop", "close", "aclose", "get", "set", "send", "read", "write", "wait", "join", "put",
    "connect", "open", "execute", "call", "update", "delete", "clear", "reset", "result", "cancel",
    "acquire", "release", "submit", "flush", "shutdown", "main",
}  # fmt: skip


@dataclass(frozen=True)
class AsyncDef:
    path: str
    node: ast.AsyncFunctionDef
    class_name: str | None

    @property
    def name(self) -> str:
        return self.node.name


class AsyncIndex:
    """Every ``async def`` (and every sync def name) across the analysed modules."""

    def __init__(self, modules: list[ModuleInfo]) -> None:
        self.module_level: dict[tuple[str, str], AsyncDef] = {}
        self.by_name: dict[str, list[AsyncDef]] = {}
        self.methods: dict[tuple[str, str, str], AsyncDef] = {}
        self.class_sync: set[tuple[str, str, str]] = set()
        self.sync_names: set[str] = set()
        for mod in modules:
            for scope in mod.scopes:
                node = scope.node
                if isinstance(node, ast.Lambda) or node is mod.tree:
                    continue
                top = mod.parents.get(node) is mod.tree
                if isinstance(node, ast.AsyncFunctionDef):
                    found = AsyncDef(mod.path, node, scope.class_name)
                    if scope.class_name:
                        self.methods[(mod.path, scope.class_name, node.name)] = found
                        self.by_name.setdefault(node.name, []).append(found)
                    elif top:
                        self.module_level[(mod.path, node.name)] = found
                        self.by_name.setdefault(node.name, []).append(found)
                else:
                    self.sync_names.add(node.name)
                    if scope.class_name:
                        self.class_sync.add((mod.path, scope.class_name, node.name))

    def target(self, func: ast.AST, mod: ModuleInfo, scope: Scope) -> AsyncDef | None:
        """The analysed ``async def`` that ``func`` (a call's target or a reference) names."""
        if isinstance(func, ast.Name):
            name = func.id
            if name in mod.local_defs:
                return self.module_level.get((mod.path, name))
            imported = mod.imports.get(name)
            if imported and imported.rsplit(".", 1)[-1] == name:
                candidates = [d for d in self.by_name.get(name, []) if d.class_name is None]
                return candidates[0] if len(candidates) == 1 and name not in self.sync_names else None
            return None
        if not isinstance(func, ast.Attribute):
            return None
        name = func.attr
        if isinstance(func.value, ast.Name) and func.value.id in ("self", "cls") and scope.class_name:
            own = self.methods.get((mod.path, scope.class_name, name))
            if own or (mod.path, scope.class_name, name) in self.class_sync:
                return own
        if name.startswith("__") or name in COMMON_METHODS or name in self.sync_names:
            return None
        if isinstance(func.value, ast.Name) and self._foreign_instance(func.value.id, mod, scope):
            return None
        module_receiver = isinstance(func.value, ast.Name) and func.value.id in mod.imports
        candidates = [d for d in self.by_name.get(name, []) if d.class_name is not None or module_receiver]
        return candidates[0] if len(candidates) == 1 else None


    def _foreign_instance(self, name: str, mod: ModuleInfo, scope: Scope) -> bool:
        """``name`` was bound to an instance of a class the analysed code does not define
        (``button = widgets.Button(...)``), so its methods are not ours to match by name."""
        ours = {class_name for (_, class_name, _) in self.methods} | {c for (_, c, _) in self.class_sync}
        for node in (*walk_scope(scope.node), *walk_scope(mod.tree)):
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            ):
                made_by = last_name(node.value.func)
                return made_by is not None and made_by[:1].isupper() and made_by not in ours
        return False


def _passed_along(call: ast.Call, mod: ModuleInfo, scope: Scope) -> bool:
    """The coroutine is handed to other code (a bridge, a list that is gathered...)."""
    node: ast.AST = call
    parent = mod.parents.get(node)
    while isinstance(parent, (ast.List, ast.Tuple, ast.Starred, ast.keyword, ast.comprehension,
                              ast.ListComp, ast.GeneratorExp, ast.Dict, ast.Set, ast.SetComp)):
        node, parent = parent, mod.parents.get(parent)
    if isinstance(parent, ast.Call) and node is not parent.func:
        return True
    if isinstance(parent, ast.Return) or (isinstance(parent, ast.Lambda) and node is parent.body):
        return True  # handed back to the caller (a lambda returns its body)
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        for other in ast.walk(scope.node):
            if isinstance(other, ast.Call) and other is not call:
                args = [*other.args, *(k.value for k in other.keywords)]
                args = [a.value if isinstance(a, ast.Starred) else a for a in args]
                if any(isinstance(a, ast.Name) and a.id in names for a in args):
                    return True
            if isinstance(other, ast.Await) and isinstance(other.value, ast.Name) and other.value.id in names:
                return True
    return False


def _truth_tested(call: ast.Call, mod: ModuleInfo) -> bool:
    node: ast.AST = call
    parent = mod.parents.get(node)
    while isinstance(parent, (ast.BoolOp, ast.UnaryOp)):
        node, parent = parent, mod.parents.get(parent)
    return isinstance(parent, (ast.If, ast.While, ast.IfExp, ast.Assert)) and getattr(parent, "test", None) is node


def _is_coroutine_call(call: ast.Call, mod: ModuleInfo, scope: Scope, index: AsyncIndex) -> str | None:
    """A name for the coroutine ``call`` creates, if it creates one."""
    target = index.target(call.func, mod, scope)
    if target:
        return target.name
    name = mod.resolve(call.func) or ""
    if name in KNOWN_COROUTINES:
        return name
    if isinstance(call.func, ast.Attribute) and call.func.attr not in CLIENT_LOCAL:
        if mod.client_kind(call.func.value, scope) == "async":
            return plain_dotted(call.func) or call.func.attr
    return None


def check_r2(modules: list[ModuleInfo]) -> list[Finding]:
    index = AsyncIndex(modules)
    findings: list[Finding] = []
    callers: dict[AsyncDef, list[tuple[ModuleInfo, ast.Call, bool]]] = {}
    loose: list[tuple[ModuleInfo, ast.Call, str, AsyncDef | None]] = []
    for mod in modules:
        for scope in mod.scopes:
            for node in walk_scope(scope.node):
                if not isinstance(node, ast.Call):
                    continue
                findings.extend(_backwards_bridges(node, mod, scope, index))
                coroutine = _is_coroutine_call(node, mod, scope, index)
                if not coroutine:
                    continue
                target = index.target(node.func, mod, scope)
                supported = scope.is_async or mod.is_awaited(node) or _passed_along(node, mod, scope)
                if target:
                    callers.setdefault(target, []).append((mod, node, supported))
                if not mod.is_awaited(node) and (isinstance(mod.parents.get(node), ast.Expr) or _truth_tested(node, mod)):
                    loose.append((mod, node, coroutine, target))
    sync_only: set[AsyncDef] = set()
    for target, sites in callers.items():
        if sites and not any(supported for _, _, supported in sites):
            sync_only.add(target)
            lines = ", ".join(str(c.lineno) if m.path == target.path else f"{m.path}:{c.lineno}" for m, c, _ in sorted(sites, key=lambda s: (s[0].path, s[1].lineno)))
            findings.append(Finding(
                target.path, target.node.lineno, target.node.col_offset, "R2",
                f"`async def {target.name}` is only called from sync code (at {lines}): each call just "
                "makes a coroutine object, which is truthy, and the body never runs",
                f"keep `{target.name}` a plain `def`, since its callers are sync; make it async only once every "
                "caller is async and awaits it",
            ))
    for mod, call, coroutine, target in loose:
        if target in sync_only and not mod.scope_of(call).is_async:
            continue
        if _truth_tested(call, mod):
            message = f"`{coroutine}(...)` is tested without `await`: a coroutine object is always true"
            fix = f"await it first: `if await {coroutine}(...):`"
        else:
            message = f"`{coroutine}(...)` is called without `await`: the coroutine is created and dropped, so its work never runs"
            fix = f"`await {coroutine}(...)`, or start it with `asyncio.create_task(...)` and keep the task"
        findings.append(Finding(mod.path, call.lineno, call.col_offset, "R2", message, fix))
    return findings


def _backwards_bridges(call: ast.Call, mod: ModuleInfo, scope: Scope, index: AsyncIndex) -> list[Finding]:
    name = mod.resolve(call.func) or ""
    attr = last_name(call.func)
    if scope.is_async and (name == "asyncio.run" or attr == "run_until_complete"):
        return [Finding(
            mod.path, call.lineno, call.col_offset, "R2",
            f"`{attr if attr == 'run_until_complete' else 'asyncio.run'}()` inside `async def {scope.name}`: "
            "the loop is already running, so this raises RuntimeError",
            "`await` the coroutine directly; use `asyncio.run` only at a top-level sync entry point",
        )]
    api = name if name in SYNC_CALLBACK_APIS else attr if attr in SYNC_CALLBACK_APIS and "." not in (attr or ".") else None
    if api is None:
        return []
    position, keyword = SYNC_CALLBACK_APIS[api]
    given: ast.AST | None = call.args[position] if position < len(call.args) else None
    for kw in call.keywords:
        if keyword and kw.arg == keyword:
            given = kw.value
    if not isinstance(given, (ast.Name, ast.Attribute)):
        return []
    target = index.target(given, mod, scope)
    if not target:
        return []
    return [Finding(
        mod.path, call.lineno, call.col_offset, "R2",
        f"`{api}` calls its callback synchronously, but `{target.name}` is an `async def`: "
        "the call only makes a coroutine, which never runs",
        "pass a plain `def` that does the sync part (e.g. sets a stop event) or schedules the coroutine "
        "(`loop.create_task(...)` on the loop's thread, `asyncio.run_coroutine_threadsafe(...)` from another thread)",
    )]
