"""Rule 3: check-then-act on shared task or document state.

The shape: a function reads *shared* state (Redis, SQL, an ORM, or a reviewed
helper that does), decides in Python from what it read (an ``if``, a loop over
the result), then writes a status over it with a plain write: directly, or
through a helper that writes (``store.add_finish(pipe, doc, FAIL)``,
``record_job_failure(job, ..., pipeline)``), followed across files. Between the
read and the write another actor can change the state, so a DONE document can
become FAIL. Reads of locals and in-process dicts are not shared state.

Safe when the write is atomic with its check: WATCH before it (or a MULTI that
follows reads on a WATCHing pipeline, or redis-py's ``transaction`` helper), a
Lua script that checks and writes (any script *call* is taken as one; a script
that only reads is a read, and writes decided on its result are not safe), a
conditional write (``nx``/``xx``, an expected-status or version argument,
``UPDATE ... WHERE status = ...``), or one lock held across the read and the
write. A re-check just before the write narrows the window but does not close it.

Only recovery and requeue paths are judged (a function or class named for it:
reconcile, recover, requeue, sweep, cleanup, reap, expire, orphan, stale,
stuck...): a worker finishing the task it owns is not racing anyone.

A delete decided on a stale heartbeat or lease read (a worker's registration
removed because its last beat looked old) is the same race and is reported too.
"""

from __future__ import annotations

import ast
import re

from .findings import Finding
from .scope import ModuleInfo, Scope, dotted, last_name, ordered, walk_scope
from .state import REDIS_DELETES, SAFE_CALLS, StateFlow, Write, claim_tests, pipes_in, status_assignments

RECOVERY_NAME = re.compile(
    r"recover|reconcil|requeue|re_queue|sweep|clean|reap|expire|orphan|stale|janitor|watchdog|abandon|stuck|"
    r"dead|zombie|purge|maint|rescue|reclaim",
    re.IGNORECASE,
)
STALE_WORD = re.compile(r"heart_?beat|beat|alive|lease|last_?seen|stale|worker|consumer")
TIME_WORD = re.compile(r"now|time|timeout|ttl|age|last|deadline|expire|since|elapsed")


def _control(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, (ast.If, ast.While, ast.IfExp, ast.Assert)):
        return [node.test]
    if isinstance(node, (ast.For, ast.AsyncFor)):
        return [node.iter]
    if isinstance(node, ast.comprehension):
        return [node.iter, *node.ifs]
    return []


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        return node.targets
    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return [node.target]
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [node.target]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [node.optional_vars]
    return []


def _source_of(node: ast.AST) -> ast.AST | None:
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
        return node.value
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return node.iter
    if isinstance(node, ast.withitem):
        return node.context_expr
    return None


def check_r3(mod: ModuleInfo, flow: StateFlow) -> list[Finding]:
    findings: list[Finding] = []
    for scope in mod.scopes:
        findings.extend(_check_scope(mod, scope, flow))
    return findings


def _check_scope(mod: ModuleInfo, scope: Scope, flow: StateFlow) -> list[Finding]:
    recovery = bool(RECOVERY_NAME.search(scope.name) or RECOVERY_NAME.search(scope.class_name or ""))
    if not recovery and not (
        any(isinstance(n, ast.Call) and last_name(n.func) in REDIS_DELETES for n in walk_scope(scope.node))
        and STALE_WORD.search(_words(scope.node))
    ):
        return []  # rule 3 is about recovery paths, and deletes of another worker's stale registration
    func = flow.project.funcs.get(scope.node)
    nodes = ordered(walk_scope(scope.node))
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    pipes = pipes_in(scope.node)
    assigned = status_assignments(scope.node)
    writes = [(c, flow.write(c, mod, func, pipes)) for c in calls]
    if assigned:  # ``job.status = X`` then a plain write of the job writes X
        writes = [(c, Write(assigned[0]) if w is None and c.lineno >= assigned[1]
                   and flow._plain_shared_write(c, mod, func) else w) for c, w in writes]
    writes = [(c, w) for c, w in writes if w is not None]
    if not writes:
        return []
    reads = [c for c in calls if flow.is_read(c, mod, func)]
    if not reads:
        return []
    tainted: set[str] = set()
    read_set = set(reads)
    for _ in range(2):
        for node in nodes:
            source = _source_of(node)
            if source is None:
                continue
            if any((isinstance(n, ast.Call) and n in read_set) or (isinstance(n, ast.Name) and n.id in tainted)
                   for n in ast.walk(source)):  # fmt: skip
                for target in _targets(node):
                    tainted |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    checks: list[tuple[ast.AST, ast.AST]] = []  # (statement, test) that decide from read state
    for node in nodes:
        for test in _control(node):
            if any((isinstance(n, ast.Call) and n in read_set) or (isinstance(n, ast.Name) and n.id in tainted)
                   for n in ast.walk(test)):  # fmt: skip
                checks.append((node, test))
    safe_lines = [c.lineno for c in calls if (last_name(c.func) or "") in SAFE_CALLS] + claim_tests(scope.node)
    locks = [
        n for n in nodes
        if isinstance(n, (ast.With, ast.AsyncWith))
        and any("lock" in (dotted(item.context_expr) or "").lower() for item in n.items)
    ]  # fmt: skip
    findings: list[Finding] = []
    for write, done in writes:
        pos = (write.lineno, write.col_offset)
        earlier = [r for r in reads if (r.lineno, r.col_offset) < pos and not _inside(r, write, mod)]
        if not earlier:
            continue
        first = min(earlier, key=lambda n: (n.lineno, n.col_offset))
        ancestors = set(mod.ancestors(write))
        deciding = [test for stmt, test in checks if stmt in ancestors or first.lineno <= test.lineno <= write.lineno]
        if not deciding:
            continue
        if not recovery and not done.delete:
            continue  # an owner finishing the task it holds is not racing anyone
        if done.delete and not _stale_delete(deciding, [r for r in earlier if flow.is_direct_read(r, mod, func)]):
            continue  # deletes count only when they act on a heartbeat or lease judged stale in Python
        if any(line <= write.lineno for line in safe_lines):
            continue
        if any(lock in ancestors and _inside(first, lock, mod) for lock in locks):
            continue
        what = dotted(first.func) if isinstance(first, ast.Call) else "a status test"
        if done.delete:
            message = (
                f"check-then-act: `{dotted(write.func)}(...)` deletes on a stale read at line {first.lineno} "
                f"(`{what}`); the owner can beat or finish in between, and its live registration is removed"
            )
        else:
            message = (
                f"check-then-act: `{dotted(write.func)}(...)` writes {done.status} from state read at line "
                f"{first.lineno} (`{what}`); another actor can change it in between, e.g. a worker finishing "
                f"the task, so DONE becomes {done.status}"
            )
        findings.append(Finding(
            mod.path, write.lineno, write.col_offset, "R3", message,
            "make the check and the write one atomic step: WATCH the keys and write in MULTI/EXEC (retry on "
            "WatchError), or a Lua script that re-checks the state and writes only if it is still what you read; "
            "a re-check just before the write only narrows the window",
            write.end_lineno or 0,
        ))
    return findings


def _stale_delete(tests: list[ast.AST], reads: list[ast.Call]) -> bool:
    """A delete decided on another worker's heartbeat read and judged stale here, by a time comparison
    (not on a key the server already expired: that verdict was atomic)."""
    if not reads:
        return False
    words = " ".join(_words(n) for n in [*tests, *reads])
    return bool(STALE_WORD.search(words) and TIME_WORD.search(words))


def _words(node: ast.AST) -> str:
    parts = [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]
    parts += [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
    parts += [str(n.value) for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return " ".join(parts).lower()


def _inside(node: ast.AST, container: ast.AST, mod: ModuleInfo) -> bool:
    return node is container or container in set(mod.ancestors(node))
