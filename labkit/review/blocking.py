"""Rule 1: blocking calls inside ``async def``, and what counts as blocking.

R4 reuses :func:`blocking_call`, so "blocking" means the same thing in both rules.
A call is only blocking where it *runs*: passing ``time.sleep`` to
``asyncio.to_thread`` or wrapping it in a lambda for an executor is a
reference, not a call, so it is never flagged.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .config import ReviewConfig
from .findings import Finding
from .scope import ModuleInfo, Scope, dotted, last_name, ordered, walk_scope

EXACT = {
    "time.sleep": "sleep",
    "urllib.request.urlopen": "http",
    "socket.create_connection": "http",
    "subprocess.run": "subprocess",
    "subprocess.call": "subprocess",
    "subprocess.check_call": "subprocess",
    "subprocess.check_output": "subprocess",
    "subprocess.getoutput": "subprocess",
    "subprocess.getstatusoutput": "subprocess",
    "os.system": "subprocess",
    "os.popen": "subprocess",
    "os.wait": "subprocess",
    "os.waitpid": "subprocess",
    "open": "file",
    "io.open": "file",
    "input": "input",
}
HTTP_MODULES = {"requests", "httpx", "urllib3"}
HTTP_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "urlopen"}
PATH_IO = {"read_text", "write_text", "read_bytes", "write_bytes"}
# Methods of a sync Redis client that return at once without a round trip.
CLIENT_LOCAL = {"pipeline", "lock", "pubsub", "register_script", "get_connection_kwargs", "get_encoder"}
BRIDGES = {"asyncio.to_thread", "to_thread", "run_in_executor", "submit"}

FIXES = {
    "sleep": "use `await asyncio.sleep(...)`, which lets other tasks run while it waits",
    "http": "use an async HTTP client (httpx.AsyncClient, aiohttp) and await it, or `await asyncio.to_thread(...)`",
    "redis": "use a `redis.asyncio` client and await the call, or `await asyncio.to_thread(...)` it",
    "file": "move the file I/O into a function and `await asyncio.to_thread(that_function)`",
    "subprocess": "use `await asyncio.create_subprocess_exec(...)`, or `await asyncio.to_thread(subprocess.run, ...)`",
    "input": "read input outside the event loop, or `await asyncio.to_thread(input, ...)`",
    "name": "offload it: `await asyncio.to_thread({name}, ...)` (pass the function, not its result), or use an async client",
    "local": "offload it: `await asyncio.to_thread({name}, ...)`, or make its blocking parts async",
}


@dataclass(frozen=True)
class Blocking:
    """Why one call blocks: a category (for the fix) and a short description."""

    category: str
    what: str
    callee: str
    root: str = ""  # for a call to a local function: the category of what blocks inside it

    @property
    def kind(self) -> str:
        return self.root or self.category


def blocking_call(call: ast.Call, mod: ModuleInfo, scope: Scope, config: ReviewConfig) -> Blocking | None:
    """How ``call`` blocks the thread that runs it, or None if it does not (or we cannot tell)."""
    if mod.is_awaited(call):
        return None  # an awaited call is a coroutine, not sync work
    name = mod.resolve(call.func) or ""
    text = dotted(call.func) or name
    attr = last_name(call.func)
    if name in EXACT:
        return Blocking(EXACT[name], f"{text}()", text)
    head = name.split(".")[0]
    if head in HTTP_MODULES and attr in HTTP_VERBS and name.count(".") == 1:
        return Blocking("http", f"{text}()", text)
    if isinstance(call.func, ast.Attribute):
        if attr in PATH_IO:
            return Blocking("file", f".{attr}()", text)
        kind = mod.client_kind(call.func.value, scope)
        if kind == "sync" and attr not in CLIENT_LOCAL:
            return Blocking("redis", f"sync Redis `{text}()`", text)
        if kind == "sync-pipe" and attr == "execute":
            return Blocking("redis", f"sync Redis pipeline `{text}()`", text)
    matched = config.matches_block_name(name) or config.matches_block_name(dotted(call.func))
    if matched:
        return Blocking("name", f"{text}() (a blocking `{matched}`)", text)
    local = local_blocking(mod, config).get(local_target(call, mod, scope) or "")
    if local:
        return Blocking("local", f"{text}(), which blocks ({local.what})", text, local.kind)
    return None


def local_target(call: ast.Call, mod: ModuleInfo, scope: Scope) -> str | None:
    """The key of a function defined in this module that ``call`` calls, if we can tell."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in mod.local_defs and func.id not in mod.imports:
        return func.id
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("self", "cls")
        and scope.class_name
    ):
        return f"{scope.class_name}.{func.attr}"
    return None


def local_blocking(mod: ModuleInfo, config: ReviewConfig) -> dict[str, Blocking]:
    """Sync functions of this module that block, directly or through each other."""
    cached = getattr(mod, "_local_blocking", None)
    if cached is not None:
        return cached
    result: dict[str, Blocking] = {}
    mod._local_blocking = result  # type: ignore[attr-defined]  # guards recursion below
    sync_defs = {
        s.key: s
        for s in mod.scopes
        if isinstance(s.node, ast.FunctionDef) and (s.class_name or mod.parents.get(s.node) is mod.tree)
    }
    changed = True
    while changed:
        changed = False
        for key, scope in sync_defs.items():
            if key in result:
                continue
            for node in ordered(walk_scope(scope.node)):
                if isinstance(node, ast.Call):
                    found = blocking_call(node, mod, scope, config)
                    if found:
                        line = getattr(node, "lineno", 0)
                        what = found.what if found.category != "local" else found.what.split(",")[0]
                        result[key] = Blocking(found.category, f"{what} at line {line}", found.callee, found.kind)
                        changed = True
                        break
    return result


def _premature_bridge(call: ast.Call, mod: ModuleInfo) -> str | None:
    """The bridge (to_thread, run_in_executor) whose argument ``call`` is evaluated for."""
    parent = mod.parents.get(call)
    if isinstance(parent, ast.Call) and call in parent.args:
        name = mod.resolve(parent.func) or ""
        if name in BRIDGES or last_name(parent.func) in ("to_thread", "run_in_executor"):
            return last_name(parent.func)
    return None


def check_r1(mod: ModuleInfo, config: ReviewConfig) -> list[Finding]:
    findings: list[Finding] = []
    for scope in mod.scopes:
        if not scope.is_async:
            continue
        for node in walk_scope(scope.node):
            if not isinstance(node, ast.Call):
                continue
            found = blocking_call(node, mod, scope, config)
            if not found:
                continue
            bridge = _premature_bridge(node, mod)
            if bridge:
                message = (
                    f"`{found.callee}(...)` runs on the event loop before `{bridge}` receives its result: "
                    f"{found.what} blocks `async def {scope.name}`"
                )
                fix = f"pass the function and its arguments separately: `{bridge}({found.callee}, arg, ...)`"
            else:
                message = (
                    f"{found.what} blocks the event loop inside `async def {scope.name}`: "
                    "every other task, heartbeats included, stops until it returns"
                )
                fix = FIXES[found.category].format(name=found.callee)
            findings.append(Finding(mod.path, node.lineno, node.col_offset, "R1", message, fix, node.end_lineno or 0))
    return findings
