"""Rule 1: blocking calls inside ``async def``, and what counts as blocking.

A call blocks when it reaches sync I/O or a sleep: directly (``time.sleep``,
``requests.get``, a method of a sync Redis or HTTP client or the sync OpenAI SDK,
a thread lock's ``acquire``) or through the reviewed code's own sync functions
and methods, followed across files (:mod:`.project`). The finding shows the
chain, e.g. ``report → CONN.zadd → RedisDB.zadd → self.r.zadd (sync Redis)``.

R4 and R5 reuse :class:`Blocker`, so "blocking" means the same in every rule.
A call is only blocking where it *runs*: passing ``time.sleep`` to
``asyncio.to_thread`` or wrapping it in a lambda for an executor is a
reference, not a call, so it is never flagged.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .config import ReviewConfig
from .findings import Finding
from .project import Ext, Func, Project
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
HTTP_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "request", "stream", "urlopen", "send"}
PATH_IO = {"read_text", "write_text", "read_bytes", "write_bytes"}
PATH_NAME = re.compile(r"path|file|dir|^p$", re.IGNORECASE)  # a receiver of read_text() that is a Path
# Methods of a sync Redis client that return at once without a round trip.
CLIENT_LOCAL = {
    "pipeline", "lock", "pubsub", "register_script", "get_connection_kwargs", "get_encoder", "from_url",
    "get_retry", "set_retry", "set_response_callback", "client", "monitor",
}  # fmt: skip
LLM_CALLS = {"create", "parse", "stream", "generate"}
BRIDGES = {"asyncio.to_thread", "to_thread", "run_in_executor", "submit"}
LEAF = {
    "redis": "sync Redis",
    "http": "sync HTTP",
    "llm": "sync OpenAI client",
    "lock": "thread lock",
    "file": "file I/O",
    "subprocess": "subprocess",
    "sleep": "sleep",
    "input": "console input",
}

FIXES = {
    "sleep": "use `await asyncio.sleep(...)`, which lets other tasks run while it waits",
    "http": "use an async HTTP client (httpx.AsyncClient, aiohttp) and await it, or `await asyncio.to_thread(...)`",
    "redis": "use a `redis.asyncio` client and await the call, or `await asyncio.to_thread(...)` it",
    "llm": "use the async client (`openai.AsyncOpenAI`) and await it, or `await asyncio.to_thread(...)` the call",
    "lock": "use an `asyncio.Lock` (`async with lock:`), or take the thread lock in `asyncio.to_thread(...)`",
    "file": "move the file I/O into a function and `await asyncio.to_thread(that_function)`",
    "subprocess": "use `await asyncio.create_subprocess_exec(...)`, or `await asyncio.to_thread(subprocess.run, ...)`",
    "input": "read input outside the event loop, or `await asyncio.to_thread(input, ...)`",
    "name": "offload it: `await asyncio.to_thread({name}, ...)` (pass the function, not its result), or use an async client",
    "local": "offload it: `await asyncio.to_thread({name}, ...)`, or make its blocking parts async",
}


@dataclass(frozen=True)
class Blocking:
    """Why one call blocks: a category (for the fix) and the chain of calls down to the blocking one."""

    category: str
    chain: tuple[str, ...]
    callee: str
    root: str = ""  # for a call into the reviewed code: the category of what blocks inside it

    @property
    def kind(self) -> str:
        return self.root or self.category

    @property
    def what(self) -> str:
        return " → ".join(self.chain)


class Blocker:
    """Decides which calls block, remembering what each reviewed sync function does."""

    def __init__(self, project: Project, config: ReviewConfig) -> None:
        self.project = project
        self.config = config
        self._summaries: dict[ast.AST, Blocking | None] = {}

    def func(self, scope: Scope) -> Func | None:
        return self.project.funcs.get(scope.node)

    def call(self, call: ast.Call, mod: ModuleInfo, scope: Scope) -> Blocking | None:
        """How ``call`` blocks the thread that runs it, or None if it does not (or we cannot tell)."""
        if mod.is_awaited(call):
            return None  # an awaited call is a coroutine, not sync work
        func = self.func(scope)
        direct = self._direct(call, mod, func)
        if direct:
            return direct
        target = self.project.target(call, mod, func)
        if isinstance(target, Func) and not target.is_async:
            inner = self.summary(target)
            if inner:
                text = _text(call)
                return Blocking("local", (*_step(text, target.label), *inner.chain), text, inner.kind)
        return None

    def _direct(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> Blocking | None:
        name = mod.resolve(call.func) or ""
        attr = last_name(call.func)
        if name in EXACT and not _no_hang(call):
            return _leaf(EXACT[name], call)
        head = name.split(".")[0]
        if head in HTTP_MODULES and attr in HTTP_VERBS and name.count(".") == 1:
            return _leaf("http", call)
        if isinstance(call.func, ast.Attribute):
            kind = self._receiver_kind(call.func.value, mod, func)
            if attr in PATH_IO and (kind == "path" or PATH_NAME.search(last_name(call.func.value) or "")):
                return _leaf("file", call)
            if kind == "redis" and attr not in CLIENT_LOCAL and not (attr or "").startswith("_"):
                return _leaf("redis", call)
            if kind == "redis-pipe" and attr == "execute":
                return _leaf("redis", call)
            if kind == "http" and attr in HTTP_VERBS:
                return _leaf("http", call)
            if kind == "openai" and attr in LLM_CALLS:
                return _leaf("llm", call)
            if kind == "lock" and attr == "acquire" and not _non_blocking_acquire(call):
                return _leaf("lock", call)
            if kind == "tevent" and attr == "wait":
                return _leaf("lock", call)
        matched = self.config.matches_block_name(name) or self.config.matches_block_name(dotted(call.func))
        if matched:
            text = _text(call)
            return Blocking("name", (f"{text} (a blocking `{matched}`)",), text)
        return None

    def _receiver_kind(self, node: ast.AST, mod: ModuleInfo, func: Func | None) -> str | None:
        """The known client kind of a receiver; ``client.chat.completions`` is the OpenAI client's."""
        found = self.project.type_of(node, mod, func)
        if isinstance(found, Ext):
            return found.kind
        while isinstance(node, ast.Attribute):
            node = node.value
            found = self.project.type_of(node, mod, func)
            if isinstance(found, Ext):
                return found.kind if found.kind in ("openai", "aopenai") else None
        return None

    def summary(self, func: Func) -> Blocking | None:
        """The first blocking call a sync function makes, directly or through others."""
        if func.node in self._summaries:
            return self._summaries[func.node]
        self._summaries[func.node] = None  # guards recursion
        found = None
        for node in ordered(walk_scope(func.node)):
            if isinstance(node, ast.Call):
                found = self.call(node, func.module, func.scope)
                if found:
                    break
        self._summaries[func.node] = found
        return found


    def async_blocks(self, func: Func, depth: int = 0) -> Blocking | None:
        """The first call that blocks the loop while an ``async def`` runs, in it or in what it awaits."""
        key = ("async", func.node)
        if key in self._summaries:  # type: ignore[comparison-overlap]
            return self._summaries[key]  # type: ignore[index]
        self._summaries[key] = None  # type: ignore[index]
        found = None
        for node in ordered(walk_scope(func.node)):
            if not isinstance(node, ast.Call):
                continue
            found = self.call(node, func.module, func.scope)
            if found:
                break
            target = self.project.target(node, func.module, func)
            if isinstance(target, Func) and target.is_async and depth < 6:
                inner = self.async_blocks(target, depth + 1)
                if inner:
                    text = _text(node)
                    found = Blocking("local", (*_step(text, target.label), *inner.chain), text, inner.kind)
                    break
        self._summaries[key] = found  # type: ignore[index]
        return found


def _text(call: ast.Call) -> str:
    """How the call reads in the source (``get_redis().get``), short enough for a message."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    text = ast.unparse(call.func)
    return text if len(text) <= 60 else (dotted(call.func) or text[:60])


def _step(text: str, label: str) -> tuple[str, ...]:
    """``CONN.zadd`` then ``RedisDB.zadd``; ``self.zadd`` is just ``RedisDB.zadd``; ``f`` is ``f``."""
    if text == label or text.startswith(("self.", "cls.")):
        return (label,)
    return (text, label)


def _leaf(category: str, call: ast.Call) -> Blocking:
    text = _text(call)
    return Blocking(category, (f"{text} ({LEAF[category]})",) if category != "sleep" else (text,), text)


def _no_hang(call: ast.Call) -> bool:
    """``os.waitpid(pid, os.WNOHANG)`` returns at once."""
    return any(last_name(arg) == "WNOHANG" for arg in [*call.args, *(k.value for k in call.keywords)])


def _non_blocking_acquire(call: ast.Call) -> bool:
    for kw in call.keywords:
        if kw.arg == "blocking" and isinstance(kw.value, ast.Constant) and not kw.value.value:
            return True
        if kw.arg == "timeout" and isinstance(kw.value, ast.Constant) and kw.value.value == 0:
            return True
    return bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value is False


def _premature_bridge(call: ast.Call, mod: ModuleInfo) -> str | None:
    """The bridge (to_thread, run_in_executor) whose argument ``call`` is evaluated for."""
    parent = mod.parents.get(call)
    if isinstance(parent, ast.Call) and call in parent.args:
        name = mod.resolve(parent.func) or ""
        if name in BRIDGES or last_name(parent.func) in ("to_thread", "run_in_executor"):
            return last_name(parent.func)
    return None


def check_r1(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    findings: list[Finding] = []
    for scope in mod.scopes:
        if not scope.is_async:
            continue
        for node in walk_scope(scope.node):
            if not isinstance(node, ast.Call):
                continue
            found = blocker.call(node, mod, scope)
            if not found:
                continue
            bridge = _premature_bridge(node, mod)
            chain = f"{scope.name} → {found.what}"
            if bridge:
                message = (
                    f"`{found.callee}(...)` runs on the event loop before `{bridge}` receives its result: "
                    f"it blocks `async def {scope.name}` ({chain})"
                )
                fix = f"pass the function and its arguments separately: `{bridge}({found.callee}, arg, ...)`"
            else:
                message = (
                    f"`{found.callee}(...)` blocks the event loop inside `async def {scope.name}` ({chain}): "
                    "every other task, heartbeats included, stops until it returns"
                )
                fix = FIXES[found.category].format(name=found.callee)
            findings.append(Finding(mod.path, node.lineno, node.col_offset, "R1", message, fix, node.end_lineno or 0))
    return findings
