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
from .blocking import CLIENT_LOCAL
from .findings import Finding
from .project import Ext, Func, Project
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
ASYNC_KIND_METHODS = {
    "aredis-pipe": {"execute", "watch", "reset", "unwatch"},
    "ahttp": {"get", "post", "put", "patch", "delete", "head", "options", "request", "send", "aclose"},
    "aopenai": {"create", "parse"},
    "aevent": {"wait"},
}


class AsyncIndex:
    """Which calls make a coroutine: resolved ``async def``s and known async APIs on known-async receivers."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def target(self, func: ast.AST, mod: ModuleInfo, scope: Scope) -> Func | None:
        """The reviewed ``async def`` that ``func`` (a call's target or a reference) names."""
        found = self.project.reference(func, mod, self.project.funcs.get(scope.node))
        return found if isinstance(found, Func) and found.is_async else None

    def async_api(self, call: ast.Call, mod: ModuleInfo, scope: Scope) -> str | None:
        """``r.get`` on a ``redis.asyncio`` client, ``pipe.execute`` on its pipeline, ``client.get`` on httpx.AsyncClient."""
        if not isinstance(call.func, ast.Attribute):
            return None
        attr = call.func.attr
        found = self.project.type_of(call.func.value, mod, self.project.funcs.get(scope.node))
        if not isinstance(found, Ext):
            return None
        if found.kind == "aredis" and attr not in CLIENT_LOCAL and not attr.startswith("_"):
            return plain_dotted(call.func) or attr
        if attr in ASYNC_KIND_METHODS.get(found.kind, ()):
            return plain_dotted(call.func) or attr
        return None


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
    if isinstance(parent, (ast.Yield, ast.YieldFrom, ast.Attribute)):
        return True  # yielded to a generator-based coroutine's runner, or used: ``coro().__await__()``
    if isinstance(parent, (ast.Assign, ast.AnnAssign)):
        targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
        if any(not isinstance(t, ast.Name) for t in targets):
            return True  # kept on an object or in a container for later
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
    return index.async_api(call, mod, scope)


def check_r2(modules: list[ModuleInfo], project: Project) -> list[Finding]:
    index = AsyncIndex(project)
    findings: list[Finding] = []
    callers: dict[Func, list[tuple[ModuleInfo, ast.Call, bool]]] = {}
    loose: list[tuple[ModuleInfo, ast.Call, str, Func | None]] = []
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
    sync_only: set[Func] = set()
    for target, sites in callers.items():
        if sites and not any(supported for _, _, supported in sites):
            sync_only.add(target)
            lines = ", ".join(str(c.lineno) if m.path == target.module.path else f"{m.path}:{c.lineno}" for m, c, _ in sorted(sites, key=lambda s: (s[0].path, s[1].lineno)))
            findings.append(Finding(
                target.module.path, target.node.lineno, target.node.col_offset, "R2",
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
