"""Rule 3: check-then-act on task or document state.

The shape: a function reads state (a Redis read, a status lookup), decides in
Python from what it read (an ``if``, a loop over the result), then writes a
terminal status with a plain, unconditional write. Between the read and the
write another actor can change the state, so a DONE document can become FAIL.

Safe when the function uses an atomic tool before the write (WATCH/MULTI, a
transaction callback, a Lua script), when the write is itself conditional
(``nx``/``xx``, an expected-status or epoch argument, a compare-and-set), or
when one lock spans both the read and the write. A re-check just before the
write is not enough: it narrows the window but does not close it.
"""

from __future__ import annotations

import ast
import re

from .findings import Finding
from .scope import ModuleInfo, Scope, dotted, last_name, ordered, walk_scope

REDIS_READS = {
    "get", "hget", "hgetall", "hmget", "mget", "smembers", "sscan", "scan", "scan_iter", "sscan_iter",
    "hscan", "hscan_iter", "keys", "lrange", "zrange", "zrangebyscore", "zscore", "exists", "sismember",
    "scard", "llen", "hexists", "hlen", "xrange", "zcard", "hvals", "hkeys",
}  # fmt: skip
DB_READS = {"fetchone", "fetchall", "fetchmany", "fetchval", "fetchrow", "scalar", "scalars", "first", "one"}
REDIS_WRITES = {"set", "hset", "hmset", "mset", "setex", "psetex", "getset", "json_set"}
READ_NAME = re.compile(r"^_*(get|find|list|load|fetch|read|lookup|count|scan|query|select|iter)(_|$)")
STATE_WORD = re.compile(r"status|state|orphan|incomplete|pending|running|stale|unfinished|remaining|expired")
WRITE_NAME = re.compile(r"^_*(set|update|mark|save|write|put|change|move|transition|finish|complete|fail)(_|$)|_(status|state)$")
MARK_TERMINAL = re.compile(
    r"^_*(mark|set)_?(as_)?(done|fail|failed|complete|completed|dead|finished|error)(?=_|$)"
    r"|^_*(fail|finish|complete)_(doc|document|task|job)"
)
TERMINAL = {
    "done", "fail", "failed", "failure", "complete", "completed", "succeeded", "success", "cancelled",
    "canceled", "error", "dead", "finished",
}  # fmt: skip
LIVE = {"running", "pending", "queued", "new", "claimed", "started", "in_progress", "leased"}
CONDITIONAL_KWARGS = {
    "nx", "xx", "expected", "expect", "if_status", "only_if", "from_status", "expected_status", "when",
    "epoch", "fence", "fencing_token", "token", "if_match", "prev", "previous", "current",
}  # fmt: skip
CONDITIONAL_NAME = re.compile(r"(^|_)(cas|if|compare|cond|conditional|atomic|lua|script)(_|$)|compare_and|nx$")
SAFE_CALLS = {"watch", "multi", "transaction", "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
SAFE_NAME = re.compile(r"script|lua|(^|_)cas($|_)|compare_and_set")


def _sql(call: ast.Call) -> str:
    if last_name(call.func) in ("execute", "executemany", "fetch", "fetchrow", "fetchval") and call.args:
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.upper()
    return ""


def _values(node: ast.AST) -> list[ast.AST]:
    """Every node under ``node`` except dict keys (``{"done": 3}`` sets no status)."""
    out: list[ast.AST] = []
    todo = [node]
    while todo:
        current = todo.pop()
        out.append(current)
        if isinstance(current, ast.Dict):
            todo.extend(v for v in current.values if v is not None)
        else:
            todo.extend(ast.iter_child_nodes(current))
    return out


def _terminal_in(node: ast.AST) -> str | None:
    for child in _values(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str) and child.value.lower() in TERMINAL:
            return child.value
        if isinstance(child, (ast.Name, ast.Attribute)):
            name = last_name(child) or ""
            if name.isupper() and name.lower() in TERMINAL:
                return name
    return None


def _status_words(call: ast.Call) -> int:
    count = 0
    for arg in [*call.args, *(k.value for k in call.keywords)]:
        for child in _values(arg):
            word = child.value if isinstance(child, ast.Constant) and isinstance(child.value, str) else (
                last_name(child) if isinstance(child, (ast.Name, ast.Attribute)) and (last_name(child) or "").isupper() else None
            )
            if word and word.lower() in TERMINAL | LIVE:
                count += 1
    return count


def is_read(call: ast.Call) -> bool:
    sql = _sql(call)
    if sql:
        return sql.lstrip().startswith("SELECT")
    name = last_name(call.func) or ""
    if name in REDIS_READS | DB_READS and isinstance(call.func, ast.Attribute):
        return True
    if WRITE_NAME.search(name) or MARK_TERMINAL.search(name):
        return False
    return bool(READ_NAME.search(name) or STATE_WORD.search(name))


def terminal_write(call: ast.Call) -> str | None:
    """The terminal status an unconditional write of ``call`` sets, if it is one."""
    sql = _sql(call)
    if sql:
        if sql.lstrip().startswith("UPDATE") and not re.search(r"WHERE[\s\S]*\b(STATUS|STATE)\b", sql):
            match = re.search(r"\bSET\b[\s\S]*?\b(?:STATUS|STATE)\s*=\s*'(\w+)'", sql)
            if match and match.group(1).lower() in TERMINAL:
                return match.group(1)
        return None
    name = last_name(call.func) or ""
    full = (dotted(call.func) or name).lower()
    if name in ("hsetnx", "setnx", "msetnx") or CONDITIONAL_NAME.search(name.lower()):
        return None
    if any(kw.arg in CONDITIONAL_KWARGS and not (isinstance(kw.value, ast.Constant) and not kw.value.value)
           for kw in call.keywords):
        return None
    mark = MARK_TERMINAL.search(name)
    if mark:
        return (mark.group(3) or mark.group(4)).upper()
    if not (name in REDIS_WRITES or WRITE_NAME.search(name)) or "log" in full:
        return None
    if _status_words(call) >= 2:
        return None  # a from -> to transition: the store checks the current status
    return _terminal_in(ast.Tuple(elts=[*call.args, *(k.value for k in call.keywords)], ctx=ast.Load()))




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


def check_r3(mod: ModuleInfo) -> list[Finding]:
    findings: list[Finding] = []
    for scope in mod.scopes:
        findings.extend(_check_scope(mod, scope))
    return findings


def _check_scope(mod: ModuleInfo, scope: Scope) -> list[Finding]:
    nodes = ordered(walk_scope(scope.node))
    calls = [n for n in nodes if isinstance(n, ast.Call)]
    writes = [(c, terminal_write(c)) for c in calls]
    writes = [(c, v) for c, v in writes if v]
    if not writes:
        return []
    reads = [c for c in calls if is_read(c)]
    tainted: set[str] = set()
    for _ in range(2):
        for node in nodes:
            source = _source_of(node)
            if source is None:
                continue
            if any(isinstance(n, ast.Call) and n in reads for n in ast.walk(source)) or any(
                isinstance(n, ast.Name) and n.id in tainted for n in ast.walk(source)
            ):
                for target in _targets(node):
                    tainted |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    read_set = set(reads)
    checks: list[tuple[ast.AST, ast.AST]] = []  # (statement, test) that decide from read state
    for node in nodes:
        for test in _control(node):
            if any(
                (isinstance(n, ast.Call) and n in read_set) or (isinstance(n, ast.Name) and n.id in tainted)
                for n in ast.walk(test)
            ):
                checks.append((node, test))
    safe_lines = [
        c.lineno for c in calls
        if (last_name(c.func) or "") in SAFE_CALLS or SAFE_NAME.search((dotted(c.func) or "").lower())
        or re.search(r"FOR UPDATE|BEGIN|SERIALIZABLE", _sql(c))
    ]  # fmt: skip
    locks = [
        n for n in nodes
        if isinstance(n, (ast.With, ast.AsyncWith))
        and any("lock" in (dotted(item.context_expr) or "").lower() for item in n.items)
    ]  # fmt: skip
    findings: list[Finding] = []
    for write, value in writes:
        pos = (write.lineno, write.col_offset)
        earlier = [r for r in reads if (r.lineno, r.col_offset) < pos and not _inside(r, write, mod)]
        if not earlier:
            continue
        first = min(earlier, key=lambda n: (n.lineno, n.col_offset))
        ancestors = set(mod.ancestors(write))
        decided = any(
            stmt in ancestors or first.lineno <= test.lineno <= write.lineno for stmt, test in checks
        )
        if not decided:
            continue
        if any(line <= write.lineno for line in safe_lines):
            continue
        if any(lock in ancestors and _inside(first, lock, mod) for lock in locks):
            continue
        what = dotted(first.func) if isinstance(first, ast.Call) else "a status test"
        findings.append(Finding(
            mod.path, write.lineno, write.col_offset, "R3",
            f"check-then-act: `{dotted(write.func)}(...)` writes {value} from state read at line {first.lineno} "
            f"(`{what}`); another actor can change it in between, e.g. a worker finishing the last task, "
            f"so DONE becomes {value}",
            f"make the check and the write one atomic step: WATCH the keys and write in MULTI/EXEC (retry on "
            f"WatchError), or a Lua compare-and-set that writes {value} only if the status is still what you read; "
            "a re-check just before the write only narrows the window",
            write.end_lineno or 0,
        ))
    return findings


def _inside(node: ast.AST, container: ast.AST, mod: ModuleInfo) -> bool:
    return node is container or container in set(mod.ancestors(node))
