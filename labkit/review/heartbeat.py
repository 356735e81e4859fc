"""Rule 4: a heartbeat or lease renewal that shares a loop with blocking work.

While the blocking call runs, the loop cannot reach its next heartbeat, so the
worker looks dead and its task is handed out again. In an ``async def`` any
blocking call counts (it also freezes every other task), and so does a
heartbeat sent through a blocking Redis client. In a sync loop (a thread), only
long work counts: a pacing ``time.sleep`` or a quick Redis call is fine there.
"""

from __future__ import annotations

import ast
import re

from .blocking import Blocker
from .findings import Finding
from .project import Func
from .scope import ModuleInfo, Scope, dotted, last_name, ordered, walk_scope

HEARTBEAT_NAME = re.compile(
    r"heart_?beat|(^|_)beat($|_)|keep_?alive|(renew|extend|refresh|touch)_?lease|lease_?(renew|extend|refresh)|^_*renew"
)
NOT_A_BEAT = re.compile(r"^_*(get|read|check|last|is|has|find|list|load|stale|dead|expired|missed)(_|$)|interval|timeout")
HEARTBEAT_KEY = re.compile(r"heart_?beat|lease|alive|(^|[:_])hb([:_]|$)")
REDIS_BEATS = {"set", "setex", "psetex", "expire", "pexpire", "expireat", "pexpireat", "hset", "zadd"}
LONG_WORK = {"http", "subprocess", "name", "input"}
LOOPS = (ast.While, ast.For, ast.AsyncFor)


def _key_text(node: ast.AST) -> str:
    parts = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    parts += [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    parts += [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
    return " ".join(parts).lower()


def is_heartbeat(call: ast.Call) -> bool:
    name = (last_name(call.func) or "").lower()
    if HEARTBEAT_NAME.search(name) and not NOT_A_BEAT.search(name):
        return True
    return name in REDIS_BEATS and any(HEARTBEAT_KEY.search(_key_text(arg)) for arg in call.args)


def _loop_of(node: ast.AST, mod: ModuleInfo, scope: Scope) -> ast.AST | None:
    for parent in mod.ancestors(node):
        if parent is scope.node:
            return None
        if isinstance(parent, LOOPS):
            return parent
    return None


SPAWNERS = {"create_task", "ensure_future", "start_soon", "gather", "run_coroutine_threadsafe"}


RECOVERY_LOOP = re.compile(r"reconcil|recover|requeue|reap|sweep|watchdog|janitor|lease", re.IGNORECASE)


def _time_sensitive(func: Func) -> str | None:
    """``heartbeat`` or ``recovery loop`` for an ``async def`` whose timing others rely on, else None."""
    if _beats(func):
        return "heartbeat"
    has_loop = any(isinstance(n, LOOPS) for n in walk_scope(func.node))
    return "recovery loop" if has_loop and RECOVERY_LOOP.search(func.name) else None


def _beats(func: Func) -> bool:
    """An ``async def`` that is a heartbeat or lease loop: by its name, or a beat sent inside a loop."""
    name = func.name.lower()
    if HEARTBEAT_NAME.search(name) and not NOT_A_BEAT.search(name):
        return True
    return any(
        isinstance(n, ast.Call) and is_heartbeat(n) and any(isinstance(p, LOOPS) for p in func.module.ancestors(n))
        for n in walk_scope(func.node)
    )


def _shared_loop(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    """A heartbeat started as a task next to work (started or awaited by the same function) that blocks."""
    project = blocker.project
    findings: list[Finding] = []
    for scope in mod.scopes:
        func = project.funcs.get(scope.node)
        beats: list[tuple[ast.Call, Func, str]] = []
        work: list[tuple[ast.Call, Func]] = []
        for node in ordered(walk_scope(scope.node)):
            if not isinstance(node, ast.Call):
                continue
            spawned = last_name(node.func) in SPAWNERS
            inner = [a for a in node.args if isinstance(a, (ast.Call, ast.Name, ast.Attribute))] if spawned else [node]
            for call in inner:  # ``create_task(beat())``, or ``nursery.start_soon(beat)`` (a reference)
                target = project.reference(call.func if isinstance(call, ast.Call) else call, mod, func)
                if not (isinstance(target, Func) and target.is_async):
                    continue
                what = _time_sensitive(target) if spawned else None
                if what:
                    beats.append((node, target, what))
                elif spawned or mod.is_awaited(call):
                    work.append((node if not isinstance(call, ast.Call) else call, target))
        for spawn, beat, what in beats:
            for call, job in work:
                blocked = blocker.async_blocks(job)
                if not blocked or job is beat:
                    continue
                findings.append(Finding(
                    mod.path, spawn.lineno, spawn.col_offset, "R4",
                    f"{what} `{beat.label}` runs as a task on the same event loop as `{job.label}` (line "
                    f"{call.lineno}), which blocks it ({job.label} → {blocked.what}): while that runs "
                    + ("no beat is sent, so the worker looks dead and its task is handed out again" if what == "heartbeat"
                       else "its timing checks run late and judge leases and heartbeats on stale clocks"),
                    "offload the blocking work (`await asyncio.to_thread(...)`, an async client), or beat from a "
                    "thread or process of its own that a stalled loop cannot hold up",
                    spawn.end_lineno or 0,
                ))
                break
    return findings


def check_r4(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    findings: list[Finding] = _shared_loop(mod, blocker)
    for scope in mod.scopes:
        seen: set[ast.AST] = set()
        for node in walk_scope(scope.node):
            if not (isinstance(node, ast.Call) and is_heartbeat(node)):
                continue
            loop = _loop_of(node, mod, scope)
            if loop is None or loop in seen:
                continue
            beat_args = set(ast.walk(node)) - {node}
            culprit, culprit_line = None, 0
            if scope.is_async:
                culprit = blocker.call(node, mod, scope)
            for other in walk_scope(loop):
                if culprit or not isinstance(other, ast.Call) or other is node or other in beat_args:
                    continue
                found = blocker.call(other, mod, scope)
                if found and (scope.is_async or found.kind in LONG_WORK):
                    culprit = found
                    culprit_line = other.lineno
            if not culprit:
                continue
            seen.add(loop)
            where = f" at line {culprit_line}" if culprit_line else ", the heartbeat itself"
            findings.append(Finding(
                mod.path, node.lineno, node.col_offset, "R4",
                f"heartbeat `{dotted(node.func)}(...)` shares a loop with blocking work ({culprit.what}{where}): "
                "while that runs no heartbeat is sent, so the worker looks dead and its task is handed out again",
                "send heartbeats from their own task (`asyncio.create_task`) or thread on a timer, and offload the "
                "blocking work (`await asyncio.to_thread(...)`, a process pool, or an async client)",
                node.end_lineno or 0,
            ))
    return findings
