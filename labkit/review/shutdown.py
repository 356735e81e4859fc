"""Rule 5: a worker or recovery loop that can only end by being killed.

A ``while True`` loop in a worker-like function (by its name or its class's
name) with no way out: no ``break`` or ``return``, no stop event or flag it
tests, no signal handler installed, no handler for the exceptions a signal
or a cancellation raises, and no owner that keeps its task handle and cancels it. SIGTERM then kills it mid-task, so work is lost.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from .blocking import Blocker
from .findings import Finding
from .scope import ModuleInfo, Scope, last_name, plain_dotted, walk_scope

WORKER_WORDS = re.compile(
    r"work|recover|reconcil|requeue|heart_?beat|beat|consum|process|poll|serve|daemon|reap|janitor|watchdog|"
    r"lease|executor|sweep|schedul|dispatch|listen|main|run|drain|loop|reclaim|ingest",
    re.IGNORECASE,
)
STOP_WORD = re.compile(
    r"(^|_)(stop|stopped|stopping|shutdown|shutting_down|terminate|terminated|terminating|exit|exiting|quit|"
    r"cancel|cancelled|closing|closed|running|should_run|keep_running|keep_going|alive|done|finished)(_|$)"
)
STOP_EXCEPTIONS = re.compile(r"KeyboardInterrupt|SystemExit|CancelledError|Shutdown|Stop|Terminat|Interrupt|Exit")
SIGNAL_CALLS = {"signal.signal", "add_signal_handler", "signal.set_wakeup_fd"}


def _identifiers(node: ast.AST) -> list[str]:
    names = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    names += [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
    return names


def _mentions_stop(node: ast.AST) -> bool:
    return any(STOP_WORD.search(name) for name in _identifiers(node))


def _exits(loop: ast.While) -> bool:
    """A break that leaves this loop, or a return or yield anywhere in it."""
    todo: list[tuple[ast.AST, bool]] = [(child, True) for child in loop.body + loop.orelse]
    while todo:
        node, own = todo.pop()
        if isinstance(node, ast.Break) and own:
            return True
        if isinstance(node, (ast.Return, ast.Yield, ast.YieldFrom)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        inner = own and not isinstance(node, (ast.While, ast.For, ast.AsyncFor))
        todo.extend((child, inner) for child in ast.iter_child_nodes(node))
    return False


def _watches_stop(loop: ast.While) -> bool:
    for node in walk_scope(loop):
        if isinstance(node, (ast.If, ast.IfExp, ast.While)) and _mentions_stop(node.test):
            return True
        if isinstance(node, ast.Call):
            name = last_name(node.func) or ""
            if name in ("is_set", "wait", "wait_for", "done") and _mentions_stop(node):
                return True
    return False


def _handles_signals(loop: ast.While, mod: ModuleInfo, scope: Scope) -> bool:
    for node in walk_scope(scope.node):
        if isinstance(node, ast.Call):
            name = mod.resolve(node.func) or ""
            if name in SIGNAL_CALLS or last_name(node.func) in SIGNAL_CALLS:
                return True
    inner = [n for n in walk_scope(loop) if isinstance(n, ast.Try) or n.__class__.__name__ == "TryStar"]
    for parent in [*_enclosing(loop, mod, scope), *inner]:
        for handler in getattr(parent, "handlers", []):
            if handler.type is not None and STOP_EXCEPTIONS.search(" ".join(_identifiers(handler.type))):
                return True
    return False


def _enclosing(loop: ast.AST, mod: ModuleInfo, scope: Scope) -> list[ast.AST]:
    out = []
    for parent in mod.ancestors(loop):
        if parent is scope.node:
            break
        if isinstance(parent, ast.Try) or parent.__class__.__name__ == "TryStar":
            out.append(parent)
    return out


def _daemon_thread(mod: ModuleInfo, scope: Scope) -> bool:
    """The loop runs in a daemon thread (``Thread(target=self.run, daemon=True)``, or a Thread subclass
    that sets ``daemon``): it holds no work of its own, and the process ends it by design."""
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call) and last_name(node.func) == "Thread":
            kws = {kw.arg: kw.value for kw in node.keywords}
            daemon = kws.get("daemon")
            target = kws.get("target")
            if isinstance(daemon, ast.Constant) and daemon.value and target is not None and last_name(target) == scope.name:
                return True
        if scope.class_name and isinstance(node, ast.ClassDef) and node.name == scope.class_name:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Assign) and any(last_name(t) == "daemon" for t in inner.targets):
                    if isinstance(inner.value, ast.Constant) and inner.value.value is True:
                        return True
                if isinstance(inner, ast.keyword) and inner.arg == "daemon":
                    if isinstance(inner.value, ast.Constant) and inner.value.value is True:
                        return True
    return False


def _cancelled_by_owner(mod: ModuleInfo, scope: Scope) -> bool:
    """Started as a task whose handle this module cancels: cancellation is its stop signal."""
    handles: set[str | None] = set()
    cancelled: set[str | None] = set()
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Call):
            continue
        name = last_name(node.func)
        if name == "cancel" and isinstance(node.func, ast.Attribute):
            cancelled.add(plain_dotted(node.func.value))
        elif name in ("create_task", "ensure_future") and node.args and isinstance(node.args[0], ast.Call):
            if last_name(node.args[0].func) == scope.name:
                parent = mod.parents.get(node)
                if isinstance(parent, ast.Assign):
                    handles |= {plain_dotted(t) for t in parent.targets}
                elif isinstance(parent, ast.AnnAssign):
                    handles.add(plain_dotted(parent.target))
    return bool((handles & cancelled) - {None})


def _worker_like(mod: ModuleInfo, scope: Scope) -> str | None:
    names = [scope.name if scope.node is not mod.tree else Path(mod.path).stem, scope.class_name or ""]
    return next((n for n in names if n and WORKER_WORDS.search(n)), None)


HARD_EXITS = {"sys.exit", "os._exit", "exit", "quit", "os.abort"}


def _handler_findings(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    """Signal handlers that sleep, exit or do I/O instead of setting a stop event."""
    findings: list[Finding] = []
    for scope in mod.scopes:
        for node in walk_scope(scope.node):
            if not isinstance(node, ast.Call):
                continue
            name = mod.resolve(node.func) or ""
            if (name == "signal.signal" or last_name(node.func) == "add_signal_handler") and len(node.args) > 1:
                given = node.args[1]
            else:
                continue
            if not _stop_signal(node.args[0]):
                continue  # SIGCHLD, SIGUSR1...: not a request to shut down
            body, label, where = _handler_body(given, mod, scope, blocker)
            if body is None:
                continue
            for call in walk_scope(body) if not isinstance(body, ast.Lambda) else ast.walk(body.body):
                if not isinstance(call, ast.Call):
                    continue
                callee = where.resolve(call.func) or ""
                what = None
                if callee in HARD_EXITS and _second_signal(call, body, where):
                    continue  # a repeated signal forcing the exit, after the first one asked to stop
                if callee in HARD_EXITS:
                    what = f"`{callee}()` ends the process at once"
                else:
                    found = blocker.call(call, where, where.scope_of(call))
                    if found:
                        what = f"`{found.callee}()` {'sleeps' if found.kind == 'sleep' else 'does blocking I/O'} ({found.what})"
                if what:
                    findings.append(Finding(
                        where.path, call.lineno, call.col_offset, "R5",
                        f"signal handler {label}: {what}; in-flight tasks are cut off instead of finishing",
                        "make the handler only set a stop event (`stop.set()`); let the loops see it, finish or "
                        "hand back their task, and return from main so the process exits on its own",
                        call.end_lineno or 0,
                    ))
    return findings


OTHER_SIGNALS = re.compile(r"SIG(CHLD|CLD|USR1|USR2|WINCH|ALRM|PIPE|CONT|TSTP|TTIN|TTOU|IO|PROF|VTALRM|URG)$")


def _stop_signal(node: ast.AST) -> bool:
    """The signal named is one that asks a process to stop (or a variable: it may be)."""
    named = [last_name(n) or "" for n in ast.walk(node) if isinstance(n, (ast.Name, ast.Attribute))]
    named = [n for n in named if n.startswith("SIG")]
    return not named or not all(OTHER_SIGNALS.match(n) for n in named)


def _second_signal(call: ast.AST, body: ast.AST, mod: ModuleInfo) -> bool:
    """Inside ``if stopping: ... exit`` (or its else): the handler tells a first signal from a repeated one."""
    for parent in mod.ancestors(call):
        if parent is body:
            return False
        if isinstance(parent, ast.If) and _mentions_stop(parent.test):
            return True
    return False


def _handler_body(given: ast.AST, mod: ModuleInfo, scope: Scope, blocker: Blocker) -> tuple[ast.AST | None, str, ModuleInfo]:
    if isinstance(given, ast.Lambda):
        return given, "(a lambda)", mod
    if isinstance(given, ast.Call) and last_name(given.func) == "partial" and given.args:
        given = given.args[0]
    if not isinstance(given, (ast.Name, ast.Attribute)):
        return None, "", mod
    found = blocker.project.reference(given, mod, blocker.project.funcs.get(scope.node))
    if found is None and isinstance(given, ast.Name):
        local = [n for n in walk_scope(scope.node) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == given.id]
        if local:
            return local[0], f"`{given.id}`", mod
    if found is None or not hasattr(found, "node") or isinstance(found.node, ast.ClassDef):
        return None, "", mod
    return found.node, f"`{found.label}`", found.module


def check_r5(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    findings: list[Finding] = _handler_findings(mod, blocker)
    for scope in mod.scopes:
        who = _worker_like(mod, scope)
        if not who:
            continue
        for node in walk_scope(scope.node):
            if not (isinstance(node, ast.While) and isinstance(node.test, ast.Constant) and node.test.value):
                continue
            if _exits(node) or _watches_stop(node) or _handles_signals(node, mod, scope):
                continue
            if _cancelled_by_owner(mod, scope) or _daemon_thread(mod, scope):
                continue
            label = f"`{scope.name}`" if scope.node is not mod.tree else f"the top level of {Path(mod.path).name}"
            findings.append(Finding(
                mod.path, node.lineno, node.col_offset, "R5",
                f"`while True` in {label} never checks a stop event and nothing handles SIGTERM/SIGINT: "
                "shutdown kills it mid-task, so in-flight work is lost or left half-done",
                "loop on a stop event (`while not stop.is_set():`) that a SIGTERM/SIGINT handler sets "
                "(`loop.add_signal_handler(signal.SIGTERM, stop.set)`), and wait with "
                "`await asyncio.wait_for(stop.wait(), timeout)` instead of a bare sleep",
                node.lineno,
            ))
    return findings

