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
from dataclasses import dataclass

from .blocking import Blocker
from .findings import Finding
from .project import REDIS_KINDS, Ext, Func, Project
from .scope import ModuleInfo, Scope, dotted, last_name, ordered, walk_scope

REDIS_READS = {
    "get", "hget", "hgetall", "hmget", "mget", "smembers", "sscan", "scan", "scan_iter", "sscan_iter",
    "hscan", "hscan_iter", "keys", "lrange", "zrange", "zrangebyscore", "zrevrange", "zrevrangebyscore", "zscore",
    "exists", "sismember", "scard", "llen", "hexists", "hlen", "xrange", "zcard", "hvals", "hkeys", "ttl", "pttl",
    "zrangebylex", "zrank", "type", "json_get", "zcount", "xpending", "xpending_range", "xinfo_consumers",
    "xinfo_groups", "hrandfield", "srandmember",
}  # fmt: skip
DB_READS = {"fetchone", "fetchall", "fetchmany", "fetchval", "fetchrow", "scalar", "scalars", "scalar_one", "one",
            "one_or_none"}
REDIS_WRITES = {"set", "hset", "hmset", "mset", "setex", "psetex", "getset", "json_set"}
REDIS_DELETES = {"delete", "unlink", "srem", "zrem", "hdel", "lrem"}
SCRIPT_CALLS = {"eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro"}
SAFE_CALLS = {"watch", "multi", "transaction"}
# Receivers whose name says "shared store" when nothing else tells what they are.
STORE_NAME = re.compile(
    r"^_*(r|rds|redis|redis_\w+|\w+_redis|conn|connection|\w+_conn|client|redis_client|pipe|pipeline|db|\w+_db|"
    r"store|\w+_store|storage|repo|repository|dao|cursor|cur|session|broker)$"
)
READ_NAME = re.compile(r"^_*(get|find|list|load|fetch|read|lookup|count|scan|query|select|iter)(_|$)")
STATE_WORD = re.compile(r"status|state|orphan|incomplete|pending|running|stale|unfinished|remaining|expired")
WRITE_NAME = re.compile(
    r"^_*(set|update|mark|save|write|put|change|move|transition|finish|complete|fail|abort|cancel|record)(_|$)"
    r"|_(status|state)$"
)
MARK_TERMINAL = re.compile(
    r"^_*(mark|set)_?(as_)?(done|fail|failed|complete|completed|dead|finished|error|aborted|cancelled)(?=_|$)"
    r"|^_*(fail|finish|complete|abort)_(doc|document|task|job)"
)
STATUS_WORDS = {
    "done", "fail", "failed", "failure", "complete", "completed", "succeeded", "success", "cancelled",
    "canceled", "error", "dead", "finished", "aborted", "aborting", "abandoned", "expired", "killed", "revoked",
    "running", "pending", "queued", "new", "claimed", "started", "in_progress", "leased", "active", "retry",
    "stopped", "timeout", "timed_out",
}  # fmt: skip
STATUS_ENUM = re.compile(r"(status|state|states)$", re.IGNORECASE)
CONDITIONAL_KWARGS = {
    "nx", "xx", "expected", "expect", "if_status", "only_if", "from_status", "expected_status", "when",
    "epoch", "fence", "fencing_token", "token", "if_match", "prev", "previous", "current", "version",
    "expected_version", "if_version",
}  # fmt: skip
CONDITIONAL_NAME = re.compile(r"(^|_)(cas|if|compare|cond|conditional|atomic|lua|script)(_|$)|compare_and|nx$")
RECOVERY_NAME = re.compile(
    r"recover|reconcil|requeue|re_queue|sweep|clean|reap|expire|orphan|stale|janitor|watchdog|abandon|stuck|"
    r"dead|zombie|purge|maint|rescue|reclaim",
    re.IGNORECASE,
)
STALE_WORD = re.compile(r"heart_?beat|beat|alive|lease|last_?seen|stale|worker|consumer")
TIME_WORD = re.compile(r"now|time|timeout|ttl|age|last|deadline|expire|since|elapsed")


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


def status_value(node: ast.AST) -> str | None:
    """The status a value names: ``"FAIL"``, ``FAIL``, ``JobStatus.FAILED``, ``Status.ABORTED.value``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value if node.value.lower() in STATUS_WORDS else None
    if isinstance(node, ast.Attribute) and node.attr == "value":
        return status_value(node.value)
    if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
        owner = last_name(node.value) or ""
        if STATUS_ENUM.search(owner) and node.attr.isupper():
            return node.attr
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = last_name(node) or ""
        if name.isupper() and name.lower() in STATUS_WORDS:
            return name
    return None


def _status_in(call: ast.Call) -> str | None:
    """The status a call's arguments set: a status argument, a value under a ``status``/``state`` key
    or keyword, or the value after a ``"status"`` field name (``hset(key, "state", "FAIL")``)."""
    found = _statuses(call)
    return found[0] if found else None


def _statuses(call: ast.Call) -> list[str]:
    out: list[str] = []
    after_field = False
    for arg in call.args:
        if isinstance(arg, ast.Dict):
            out += [v for k, val in zip(arg.keys, arg.values) if _field(k) and (v := status_value(val))]
        else:
            value = status_value(arg) if after_field else _strict_status(arg)
            if value:
                out.append(value)
        after_field = _field(arg)
    for kw in call.keywords:
        if isinstance(kw.value, ast.Dict):
            out += [v for k, val in zip(kw.value.keys, kw.value.values) if _field(k) and (v := status_value(val))]
        elif (value := status_value(kw.value) if kw.arg in ("status", "state") else _strict_status(kw.value)):
            out.append(value)
    return out


def _field(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in ("status", "state")


def _strict_status(node: ast.AST) -> str | None:
    """A status passed positionally: an enum member or an upper-case constant, not any lower-case word."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) and node.value.isupper() and status_value(node) else None
    return status_value(node)


def _status_words(call: ast.Call) -> int:
    return len(_statuses(call))


def _args(call: ast.Call) -> list[ast.AST]:
    return [*call.args, *(k.value for k in call.keywords)]


def _conditional(call: ast.Call) -> bool:
    name = (last_name(call.func) or "").lower()
    if name in ("hsetnx", "setnx", "msetnx") or CONDITIONAL_NAME.search(name) or name in SCRIPT_CALLS:
        return True
    return any(kw.arg in CONDITIONAL_KWARGS and not (isinstance(kw.value, ast.Constant) and not kw.value.value)
               for kw in call.keywords)  # fmt: skip


@dataclass(frozen=True)
class Write:
    """A write of shared state: the status it sets (``""`` for a delete on a stale read)."""

    status: str
    delete: bool = False


class StateFlow:
    """Which calls read or write shared state, following the reviewed code's helpers."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._reads: dict[ast.AST, bool] = {}
        self._writes: dict[ast.AST, str | None] = {}
        self._safe: dict[ast.AST, bool] = {}
        self._any: dict[ast.AST, bool] = {}
        self._del: dict[ast.AST, bool] = {}

    # -- receivers -----------------------------------------------------------
    def _shared_receiver(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> bool:
        if not isinstance(call.func, ast.Attribute):
            return False
        found = self.project.type_of(call.func.value, mod, func)
        if isinstance(found, Ext):
            return found.kind in REDIS_KINDS or found.kind == "sql"
        if found is not None:
            return False
        if mod.is_awaited(call):
            return True
        return bool(STORE_NAME.match(last_name(call.func.value) or ""))

    def _script_object(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> bool:
        """``script(...)`` where ``script`` came from ``register_script``."""
        name = (last_name(call.func) or "").lower()
        if "script" in name and name != "register_script":
            return True
        return self.project.type_of(call.func, mod, func) == Ext("script")

    # -- reads ---------------------------------------------------------------
    def is_read(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> bool:
        sql = _sql(call)
        if sql:
            return sql.lstrip().startswith("SELECT")
        name = last_name(call.func) or ""
        if isinstance(call.func, ast.Attribute):
            if name in DB_READS:
                return True
            if name in REDIS_READS and self._shared_receiver(call, mod, func):
                return True
            if name in SCRIPT_CALLS or self._script_object(call, mod, func):
                return True  # its result is what the server saw; a decision on it is a check
        targets = self.project.implementations(call, mod, func)
        if targets:
            return any(self.reads(t) for t in targets)
        if mod.is_awaited(call) and not (WRITE_NAME.search(name) or MARK_TERMINAL.search(name)):
            return bool(READ_NAME.search(name) or STATE_WORD.search(name))
        if isinstance(call.func, ast.Attribute) and STORE_NAME.match(last_name(call.func.value) or ""):
            return bool(READ_NAME.search(name) or STATE_WORD.search(name)) and not WRITE_NAME.search(name)
        return False

    def is_direct_read(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> bool:
        """A read of shared state made here or by a thin wrapper (a method whose own body reads)."""
        targets = self.project.implementations(call, mod, func)
        if not targets:
            return self.is_read(call, mod, func)
        return any(
            isinstance(n, ast.Call) and not self.project.implementations(n, t.module, t) and self.is_read(n, t.module, t)
            for t in targets for n in walk_scope(t.node)
        )  # fmt: skip

    def reads(self, func: Func) -> bool:
        if func.node not in self._reads:
            self._reads[func.node] = False
            self._reads[func.node] = any(
                isinstance(n, ast.Call) and self.is_read(n, func.module, func) for n in walk_scope(func.node)
            )
        return self._reads[func.node]

    # -- writes --------------------------------------------------------------
    def write(self, call: ast.Call, mod: ModuleInfo, func: Func | None, pipes: set[str]) -> Write | None:
        """The shared write ``call`` makes, if it is an unconditional one."""
        sql = _sql(call)
        if sql:
            if sql.lstrip().startswith("UPDATE") and not re.search(r"WHERE[\s\S]*\b(STATUS|STATE)\b", sql):
                match = re.search(r"\bSET\b[\s\S]*?\b(?:STATUS|STATE)\s*=\s*'(\w+)'", sql)
                if match:
                    return Write(match.group(1))
            return None
        if _conditional(call) or self._script_object(call, mod, func):
            return None
        name = last_name(call.func) or ""
        args = _args(call)
        if _status_words(call) >= 2:
            return None  # a from -> to transition: the store checks the current status
        status = _status_in(call)
        if isinstance(call.func, ast.Attribute) and self._shared_receiver(call, mod, func):
            if name in REDIS_WRITES:
                return Write(status) if status else None
            if name in REDIS_DELETES:
                return Write("", delete=True)
        targets = self.project.implementations(call, mod, func)
        if targets:
            if any(self._safe_func(t) for t in targets):
                return None
            inner = next((w for t in targets if (w := self.writes(t))), None)
            if inner is None and status and any(self._writes_any(t) for t in targets):
                return Write(status)
            if inner is not None:
                return Write(status or inner)
            if any(self._deletes(t) for t in targets):
                return Write("", delete=True)
            return None
        mark = MARK_TERMINAL.search(name)
        receiver = last_name(call.func.value) if isinstance(call.func, ast.Attribute) else None
        if receiver and self.project.type_of(call.func.value, mod, func) is not None:  # type: ignore[union-attr]
            return None  # a known object whose methods we know: handled above
        if mark and (receiver is None or STORE_NAME.match(receiver) or mod.is_awaited(call)):
            return Write(status or (mark.group(3) or mark.group(4)).upper())
        if status and WRITE_NAME.search(name) and (mod.is_awaited(call) or STORE_NAME.match(receiver or "")):
            return Write(status)
        if status and any(isinstance(a, ast.Name) and a.id in pipes for a in args):
            return Write(status)  # a helper that queues the write into our pipeline
        return None

    def writes(self, func: Func) -> str | None:
        """The status a reviewed function writes to shared state, directly or through helpers."""
        if func.node in self._writes:
            return self._writes[func.node]
        self._writes[func.node] = None
        pipes = _pipes(func.node)
        assigned = _status_assignments(func.node)
        found = None
        for node in ordered(walk_scope(func.node)):
            if isinstance(node, ast.Call):
                done = self.write(node, func.module, func, pipes)
                if done and not done.delete:
                    found = done.status
                    break
                if assigned and node.lineno >= assigned[1] and self._plain_shared_write(node, func.module, func):
                    found = assigned[0]
                    break
        self._writes[func.node] = found
        return found

    def _deletes(self, func: Func) -> bool:
        """A reviewed wrapper method that deletes shared state (``RedisDB.srem`` around ``self.r.srem``)."""
        if func.node not in self._del:
            self._del[func.node] = any(
                isinstance(n, ast.Call) and (last_name(n.func) or "") in REDIS_DELETES
                and self._shared_receiver(n, func.module, func)
                for n in walk_scope(func.node)
            )  # fmt: skip
        return self._del[func.node]

    def _plain_shared_write(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> bool:
        name = last_name(call.func) or ""
        return isinstance(call.func, ast.Attribute) and name in REDIS_WRITES and self._shared_receiver(call, mod, func)

    def _writes_any(self, func: Func) -> bool:
        """Whether a reviewed function writes shared state at all (directly or through helpers)."""
        if func.node not in self._any:
            self._any[func.node] = False
            calls = [n for n in walk_scope(func.node) if isinstance(n, ast.Call)]
            self._any[func.node] = any(
                self._plain_shared_write(n, func.module, func) or bool(_sql(n)) for n in calls
            ) or any(self._writes_any(t) for n in calls for t in self.project.implementations(n, func.module, func))
        return self._any[func.node]

    def _safe_func(self, func: Func) -> bool:
        """A helper that makes its own write atomic (WATCH, a script, a conditional write)."""
        if func.node not in self._safe:
            self._safe[func.node] = any(
                isinstance(n, ast.Call)
                and ((last_name(n.func) or "") in SAFE_CALLS | SCRIPT_CALLS or self._script_object(n, func.module, func)
                     or re.search(r"WHERE[\s\S]*\b(STATUS|STATE|VERSION|EPOCH)\b", _sql(n)))
                for n in walk_scope(func.node)
            ) or bool(_claim_tests(func.node))  # fmt: skip
        return self._safe[func.node]


CLAIMS = REDIS_DELETES | {"setnx", "hsetnx", "lpop", "rpop", "spop", "zpopmin", "zpopmax", "rpoplpush", "lmove",
                           "blmove", "getdel", "smove", "zrem"}


def _claim_tests(scope_node: ast.AST) -> list[int]:
    """Lines of tests on the result of an atomic claim (``if not r.zrem(key, id): raise``): only the
    caller that removed or popped the entry goes on, so what follows is not a race."""
    names: set[str] = set()
    lines: list[int] = []
    for node in walk_scope(scope_node):
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Await)):
            call = node.value.value if isinstance(node.value, ast.Await) else node.value
            if isinstance(call, ast.Call) and (last_name(call.func) or "") in CLAIMS:
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in walk_scope(scope_node):
        if isinstance(node, (ast.If, ast.While)):
            used = {n.id for n in ast.walk(node.test) if isinstance(n, ast.Name)}
            direct = any(isinstance(n, ast.Call) and (last_name(n.func) or "") in CLAIMS for n in ast.walk(node.test))
            if used & names or direct:
                lines.append(node.lineno)
    return lines


def _pipes(scope_node: ast.AST) -> set[str]:
    """Names bound to a pipeline in this scope (``with x.pipeline() as pipe``, ``pipe = x.pipeline()``)."""
    names: set[str] = set()
    for node in walk_scope(scope_node):
        pairs: list[tuple[ast.AST, ast.AST]] = []
        if isinstance(node, ast.withitem) and node.optional_vars is not None:
            pairs = [(node.optional_vars, node.context_expr)]
        elif isinstance(node, ast.Assign):
            pairs = [(t, node.value) for t in node.targets]
        for target, value in pairs:
            if isinstance(target, ast.Name) and isinstance(value, ast.Call) and last_name(value.func) == "pipeline":
                names.add(target.id)
    if isinstance(scope_node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        names |= {a.arg for a in scope_node.args.args if a.arg in ("pipe", "pipeline", "p")}
    return names


def _status_assignments(scope_node: ast.AST) -> tuple[str, int] | None:
    """``job.status = Status.ABORTING`` (or ``job["status"] = ...``) in this scope, and its line:
    the status a later plain write of the job saves."""
    for node in ordered(walk_scope(scope_node)):
        if isinstance(node, ast.Assign) and any(_status_target(t) for t in node.targets):
            found = status_value(node.value)
            if found:
                return found, node.lineno
    return None


def _status_target(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in ("status", "state")
    return isinstance(node, ast.Subscript) and _field(node.slice)


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


def check_r3(mod: ModuleInfo, blocker: Blocker) -> list[Finding]:
    flow = getattr(blocker.project, "_state_flow", None)
    if flow is None:
        flow = StateFlow(blocker.project)
        blocker.project._state_flow = flow  # type: ignore[attr-defined]
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
    pipes = _pipes(scope.node)
    assigned = _status_assignments(scope.node)
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
    safe_lines = [c.lineno for c in calls if (last_name(c.func) or "") in SAFE_CALLS] + _claim_tests(scope.node)
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
