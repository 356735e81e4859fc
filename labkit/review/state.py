"""What reads and writes shared task or document state, followed through the reviewed code's helpers.

Rule 3 needs to know what a call *does* to shared state, not what it is named:
a Redis read on a client (or on a thin wrapper around one), a SQL SELECT, a
script whose result is what the server saw; a write that sets a status
(``hset(key, "state", FAIL)``, ``UPDATE ... SET status = 'FAIL'``, a helper
that queues it into the caller's pipeline, ``job.status = X`` then a save), a
delete. In-process dicts and locals are not shared state, and a receiver we
cannot resolve counts only when its name or an ``await`` says it is a store.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .project import REDIS_KINDS, Ext, Func, Project
from .scope import ModuleInfo, last_name, ordered, walk_scope

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
CONDITIONAL_SQL = re.compile(r"WHERE[\s\S]*\b(STATUS|STATE|VERSION|EPOCH)\b")  # UPDATE ... WHERE state = ...
CONDITIONAL_NAME = re.compile(r"(^|_)(cas|if|compare|cond|conditional|atomic|lua|script)(_|$)|compare_and|nx$")


def sql_text(call: ast.Call) -> str:
    if last_name(call.func) in ("execute", "executemany", "fetch", "fetchrow", "fetchval") and call.args:
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.upper()
    return ""


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
        sql = sql_text(call)
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
        sql = sql_text(call)
        if sql:
            if sql.lstrip().startswith("UPDATE") and not CONDITIONAL_SQL.search(sql):
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
        pipes = pipes_in(func.node)
        assigned = status_assignments(func.node)
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
                self._plain_shared_write(n, func.module, func) or bool(sql_text(n)) for n in calls
            ) or any(self._writes_any(t) for n in calls for t in self.project.implementations(n, func.module, func))
        return self._any[func.node]

    def _safe_func(self, func: Func) -> bool:
        """A helper that makes its own write atomic (WATCH, a script, a conditional write)."""
        if func.node not in self._safe:
            self._safe[func.node] = any(
                isinstance(n, ast.Call)
                and ((last_name(n.func) or "") in SAFE_CALLS | SCRIPT_CALLS or self._script_object(n, func.module, func)
                     or CONDITIONAL_SQL.search(sql_text(n)))
                for n in walk_scope(func.node)
            ) or bool(claim_tests(func.node))  # fmt: skip
        return self._safe[func.node]


CLAIMS = REDIS_DELETES | {"setnx", "hsetnx", "lpop", "rpop", "spop", "zpopmin", "zpopmax", "rpoplpush", "lmove",
                           "blmove", "getdel", "smove", "zrem"}


def claim_tests(scope_node: ast.AST) -> list[int]:
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


def pipes_in(scope_node: ast.AST) -> set[str]:
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


def status_assignments(scope_node: ast.AST) -> tuple[str, int] | None:
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
