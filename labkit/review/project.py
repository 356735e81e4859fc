"""Names resolved across every file of one review: which function or client a call reaches.

The rules need to know what a call *does*, not what it is called: ``CONN.zadd``
blocks when ``CONN`` is a module-level wrapper (in another file) around a sync
``redis.Redis``; ``pipe.info(...)`` is a queued command, not a coroutine. So a
review first indexes the modules it was given (their dotted names, imports,
classes, methods, module-level instances, attributes set on ``self``), then
answers two questions from the syntax tree alone:

* :meth:`Project.type_of` - what kind of value an expression is: an instance of
  a reviewed class, or a known client (sync or async Redis, its pipelines, an
  HTTP client, the OpenAI SDK, a thread lock, a logger);
* :meth:`Project.target` - which reviewed function or method a call runs.

Anything it cannot resolve stays unknown, and the rules treat unknown as "do not
flag": a false alarm on a receiver we cannot see costs more trust than a miss.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Iterator, Union

from .scope import ModuleInfo, Scope, last_name, walk_scope

# Constructors and factories of known clients -> the kind of value they make.
EXTERNAL_TYPES = {
    **dict.fromkeys(
        ("redis.Redis", "redis.StrictRedis", "redis.client.Redis", "redis.client.StrictRedis", "redis.from_url",
         "redis.Redis.from_url", "redis.StrictRedis.from_url", "redis.Redis.from_pool", "redis.RedisCluster",
         "redis.cluster.RedisCluster", "redis.sentinel.Sentinel.master_for"),
        "redis",
    ),
    **dict.fromkeys(
        ("redis.asyncio.Redis", "redis.asyncio.StrictRedis", "redis.asyncio.client.Redis", "redis.asyncio.from_url",
         "redis.asyncio.Redis.from_url", "redis.asyncio.Redis.from_pool", "redis.asyncio.RedisCluster",
         "redis.asyncio.cluster.RedisCluster", "aioredis.Redis", "aioredis.from_url", "aioredis.create_redis_pool"),
        "aredis",
    ),
    **dict.fromkeys(("redis.client.Pipeline", "redis.Pipeline"), "redis-pipe"),
    **dict.fromkeys(("redis.asyncio.client.Pipeline",), "aredis-pipe"),
    **dict.fromkeys(("openai.OpenAI", "openai.AzureOpenAI"), "openai"),
    **dict.fromkeys(("openai.AsyncOpenAI", "openai.AsyncAzureOpenAI"), "aopenai"),
    **dict.fromkeys(("httpx.Client", "requests.Session", "requests.session", "requests.sessions.Session",
                     "urllib3.PoolManager"), "http"),
    **dict.fromkeys(("httpx.AsyncClient", "aiohttp.ClientSession"), "ahttp"),
    **dict.fromkeys(("threading.Lock", "threading.RLock", "threading.Semaphore", "threading.BoundedSemaphore",
                     "threading.Condition", "multiprocessing.Lock"), "lock"),
    **dict.fromkeys(("threading.Event",), "tevent"),
    **dict.fromkeys(("logging.getLogger", "logging.Logger", "logging.LoggerAdapter", "structlog.get_logger",
                     "loguru.logger", "logging.root"), "logger"),
    **dict.fromkeys(("asyncio.Event",), "aevent"),
    **dict.fromkeys(("pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath"), "path"),
    **dict.fromkeys(("sqlite3.connect", "psycopg2.connect", "psycopg.connect", "pymysql.connect"), "sql"),
}  # fmt: skip
REDIS_KINDS = {"redis", "redis-pipe", "aredis", "aredis-pipe"}


@dataclass(eq=False)
class ClassInfo:
    """A class of the reviewed code."""

    module: ModuleInfo
    node: ast.ClassDef
    qual: str
    methods: dict[str, "Func"] = field(default_factory=dict)
    bases: list["ClassInfo"] = field(default_factory=list)
    subclasses: list["ClassInfo"] = field(default_factory=list)
    attrs: dict[str, list[tuple[ast.AST, "Func | None"]]] = field(default_factory=dict)
    annotations: dict[str, ast.AST] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    def mro(self) -> Iterator["ClassInfo"]:
        seen: set[int] = set()
        todo = [self]
        while todo:
            cls = todo.pop(0)
            if id(cls) in seen:
                continue
            seen.add(id(cls))
            yield cls
            todo.extend(cls.bases)

    def method(self, name: str) -> "Func | None":
        for cls in self.mro():
            if name in cls.methods:
                return cls.methods[name]
        return None


@dataclass(eq=False)
class Func:
    """A function or method of the reviewed code."""

    module: ModuleInfo
    node: ast.FunctionDef | ast.AsyncFunctionDef
    scope: Scope
    cls: ClassInfo | None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def is_async(self) -> bool:
        return isinstance(self.node, ast.AsyncFunctionDef)

    @property
    def label(self) -> str:
        return f"{self.cls.name}.{self.name}" if self.cls else self.name


@dataclass(frozen=True)
class Ext:
    """A value of a known outside kind (see ``EXTERNAL_TYPES``)."""

    kind: str


@dataclass(frozen=True)
class Inst:
    """An instance of a reviewed class."""

    cls: ClassInfo


@dataclass(frozen=True)
class ClassRef:
    """A reviewed class itself (for ``Job.fetch(...)``, ``cls(...)``)."""

    cls: ClassInfo


Type = Union[Ext, Inst, ClassRef]
Symbol = Union[Func, ClassInfo, ModuleInfo, tuple]  # tuple: (module, assigned value) for module-level names


class Project:
    """Every module of one review, indexed so names resolve across files."""

    def __init__(self, modules: list[ModuleInfo]) -> None:
        self.modules = modules
        self.by_name: dict[str, ModuleInfo] = {}
        self.classes: list[ClassInfo] = []
        self.funcs: dict[ast.AST, Func] = {}
        self.globals: dict[int, dict[str, list[ast.AST]]] = {}
        self._class_of_node: dict[ast.AST, ClassInfo] = {}
        self._types: dict[int, Type | None] = {}
        self._locals: dict[ast.AST, dict[str, list[ast.AST]]] = {}
        self._following: set[tuple[int, str]] = set()
        self._callers: dict[ast.AST, list[tuple[ast.Call, ModuleInfo, Func | None, int]]] | None = None
        for mod in modules:
            self.by_name.setdefault(mod.name, mod)
        for mod in modules:
            self._index(mod)
        for cls in self.classes:
            for base in cls.node.bases:
                found = self.lookup_node(base, cls.module)
                if isinstance(found, ClassInfo) and found is not cls:
                    cls.bases.append(found)
                    found.subclasses.append(cls)

    # -- indexing ------------------------------------------------------------
    def _index(self, mod: ModuleInfo) -> None:
        names: dict[str, list[ast.AST]] = {}
        for node in mod.tree.body:
            for target, value in _bindings(node):
                if isinstance(target, ast.Name):
                    names.setdefault(target.id, []).append(value)
        self.globals[id(mod)] = names
        for scope in mod.scopes:
            node = scope.node
            if isinstance(node, ast.ClassDef) or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            parent = mod.parents.get(node)
            cls = self._class(parent, mod) if isinstance(parent, ast.ClassDef) else None
            func = Func(mod, node, scope, cls)
            self.funcs[node] = func
            if cls is not None:
                cls.methods.setdefault(node.name, func)
        for cls in [c for c in self.classes if c.module is mod]:
            for stmt in cls.node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    cls.annotations[stmt.target.id] = stmt.annotation
                for target, value in _bindings(stmt):
                    if isinstance(target, ast.Name):
                        cls.attrs.setdefault(target.id, []).append((value, None))
            for func in cls.methods.values():
                for child in walk_scope(func.node):
                    if isinstance(child, ast.AnnAssign) and _is_self_attr(child.target):
                        cls.annotations.setdefault(child.target.attr, child.annotation)  # type: ignore[union-attr]
                    for target, value in _bindings(child):
                        if _is_self_attr(target):
                            cls.attrs.setdefault(target.attr, []).append((value, func))  # type: ignore[union-attr]

    def _class(self, node: ast.ClassDef, mod: ModuleInfo) -> ClassInfo:
        found = self._class_of_node.get(node)
        if found is None:
            found = ClassInfo(mod, node, f"{mod.name}.{node.name}")
            self._class_of_node[node] = found
            self.classes.append(found)
        return found

    # -- symbols -------------------------------------------------------------
    def lookup(self, dotted_name: str) -> Symbol | None:
        """A dotted name (``pkg.mod.Class.method``) -> what the reviewed code defines there."""
        parts = dotted_name.split(".")
        for start in range(len(parts)):  # also ``pkg.store`` for a folder reviewed without ``__init__.py``
            for cut in range(len(parts), start, -1):
                mod = self.by_name.get(".".join(parts[start:cut]))
                if mod is not None:
                    return self._member(mod, parts[cut:], 0)
        return None

    def _member(self, obj: Symbol, rest: list[str], depth: int) -> Symbol | None:
        for i, part in enumerate(rest):
            if depth > 8:
                return None
            if isinstance(obj, ModuleInfo):
                found = self._module_attr(obj, part, depth)
            elif isinstance(obj, ClassInfo):
                found = obj.method(part)
                if found is None:
                    return None
            else:
                return None
            if found is None:
                return None
            obj = found
        return obj

    def _module_attr(self, mod: ModuleInfo, name: str, depth: int = 0) -> Symbol | None:
        for node in mod.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return self.funcs.get(node)
            if isinstance(node, ast.ClassDef) and node.name == name:
                return self._class(node, mod)
        values = self.globals[id(mod)].get(name)
        if values:
            return (mod, values[0])
        imported = mod.imports.get(name)
        key = (id(mod), name)
        if imported and depth < 8 and key not in self._following:
            self._following.add(key)  # import cycles: ``a`` imports from ``b``, which imports from ``a``
            try:
                target = self.lookup(imported)
            finally:
                self._following.discard(key)
            if target is not None:
                return target
        sub = self.by_name.get(f"{mod.name}.{name}")
        return sub

    def lookup_node(self, node: ast.AST, mod: ModuleInfo) -> Symbol | None:
        """A Name/Attribute chain as written in ``mod`` -> the reviewed symbol it names."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        parts.append(node.id)
        parts.reverse()
        head = self._module_attr(mod, parts[0])
        if head is None:
            return None
        if isinstance(head, tuple):
            return head if len(parts) == 1 else None
        return self._member(head, parts[1:], 0)

    # -- types ---------------------------------------------------------------
    def type_of(self, node: ast.AST, mod: ModuleInfo, func: Func | None, depth: int = 0) -> Type | None:
        """What kind of value ``node`` is, where it can be told."""
        key = id(node)
        if key in self._types:
            return self._types[key]
        self._types[key] = None  # guards recursion
        found = self._type_of(node, mod, func, depth) if depth < 12 else None
        self._types[key] = found
        return found

    def _type_of(self, node: ast.AST, mod: ModuleInfo, func: Func | None, depth: int) -> Type | None:
        if isinstance(node, ast.Await):
            return self.type_of(node.value, mod, func, depth + 1)
        if isinstance(node, ast.Call):
            return self._call_type(node, mod, func, depth)
        if isinstance(node, ast.Name):
            if func is not None:
                if node.id in ("self", "cls") and func.cls is not None and _first_arg(func.node) == node.id:
                    return Inst(func.cls) if node.id == "self" else ClassRef(func.cls)
                local = self._local_type(node.id, func, depth)
                if local is not _UNBOUND:
                    return local  # type: ignore[return-value]
            return self._global_type(node.id, mod, depth)
        if isinstance(node, ast.Attribute):
            base = self.type_of(node.value, mod, func, depth + 1)
            if isinstance(base, (Inst, ClassRef)):
                return self._attr_type(base.cls, node.attr, depth)
            symbol = self.lookup_node(node, mod)
            return self._symbol_type(symbol, depth)
        return None

    def _symbol_type(self, symbol: Symbol | None, depth: int) -> Type | None:
        if isinstance(symbol, ClassInfo):
            return ClassRef(symbol)
        if isinstance(symbol, tuple):
            owner, value = symbol
            return self.type_of(value, owner, None, depth + 1)
        return None

    def _global_type(self, name: str, mod: ModuleInfo, depth: int) -> Type | None:
        values = self.globals[id(mod)].get(name)
        if values:
            for value in values:
                found = self.type_of(value, mod, None, depth + 1)
                if found:
                    return found
            return None
        imported = mod.imports.get(name)
        if imported:
            if imported in EXTERNAL_TYPES and EXTERNAL_TYPES[imported] == "logger":
                return Ext("logger")
            return self._symbol_type(self.lookup(imported), depth)
        symbol = self._module_attr(mod, name)
        return self._symbol_type(symbol, depth)

    def _table(self, func: Func) -> dict[str, list[ast.AST]]:
        """Every name a function binds (its parameters first) -> the values bound to it."""
        table = self._locals.get(func.node)
        if table is None:
            table = {}
            args = func.node.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                table.setdefault(arg.arg, []).append(arg)
            for extra in (args.vararg, args.kwarg):
                if extra is not None:
                    table.setdefault(extra.arg, [])
            for child in walk_scope(func.node):
                for target, value in _bindings(child):
                    if isinstance(target, ast.Name):
                        table.setdefault(target.id, []).append(value)
            self._locals[func.node] = table
        return table

    def _local_type(self, name: str, func: Func, depth: int) -> Type | None | object:
        table = self._table(func)
        if name not in table:
            return _UNBOUND
        for value in table[name]:
            found = self._value_type(value, func.module, func, depth)
            if found:
                return found
        return None

    def _value_type(self, value: ast.AST, mod: ModuleInfo, func: Func | None, depth: int) -> Type | None:
        """A bound value's type: a parameter's from its annotation (else from what its callers pass),
        anything else from the expression."""
        if isinstance(value, ast.arg):
            if value.annotation is None and func is not None:
                return self._passed_type(func, value, depth)
            return self.annotation_type(value.annotation, mod, depth)
        return self.type_of(value, mod, func, depth + 1)

    def _passed_type(self, func: Func, param: ast.arg, depth: int) -> Type | None:
        """What the callers pass for an unannotated parameter, when they agree (``claim(redis.Redis())``)."""
        found: set[Type] = set()
        for call, mod, caller, shift in self.callers(func):
            given = _argument(call, func.node, param, shift)
            kind = self.type_of(given, mod, caller, depth + 1) if given is not None else None
            if kind is not None:
                found.add(kind)
        return found.pop() if len(found) == 1 else None

    def callers(self, func: Func) -> list[tuple[ast.Call, ModuleInfo, Func | None, int]]:
        """Call sites of a reviewed function found by name alone (``f(...)``, ``self.f(...)``), no types
        needed: (call, module, calling function, how many leading parameters the call fills itself)."""
        if self._callers is None:
            self._callers = {}
            for mod in self.modules:
                for scope in mod.scopes:
                    caller = self.funcs.get(scope.node)
                    for node in walk_scope(scope.node):
                        if isinstance(node, ast.Call):
                            found = self._called_by_name(node, mod, caller)
                            if found is not None:
                                self._callers.setdefault(found[0].node, []).append((node, mod, caller, found[1]))
        return self._callers.get(func.node, [])

    def _called_by_name(self, call: ast.Call, mod: ModuleInfo, caller: Func | None) -> tuple[Func, int] | None:
        callee = call.func
        if isinstance(callee, ast.Name):
            if caller is not None and callee.id in self._table(caller):
                return None
            symbol = self._module_attr(mod, callee.id)
            return (symbol, 0) if isinstance(symbol, Func) and symbol.cls is None else None
        if (
            isinstance(callee, ast.Attribute)
            and isinstance(callee.value, ast.Name)
            and callee.value.id == "self"
            and caller is not None
            and caller.cls is not None
        ):
            method = caller.cls.method(callee.attr)
            return (method, 1) if method is not None else None
        return None

    def _attr_type(self, cls: ClassInfo, attr: str, depth: int) -> Type | None:
        for owner in cls.mro():
            if attr in owner.annotations:
                found = self.annotation_type(owner.annotations[attr], owner.module, depth)
                if found:
                    return found
            for value, where in owner.attrs.get(attr, []):
                found = self._value_type(value, owner.module, where, depth)
                if found:
                    return found
            method = owner.methods.get(attr)
            if method is not None and any(last_name(d) in ("property", "cached_property") for d in method.node.decorator_list):
                return self.return_type(method, depth + 1)
        return None

    def annotation_type(self, annotation: ast.AST | None, mod: ModuleInfo, depth: int = 0) -> Type | None:
        """``Redis``, ``Optional[Redis]``, ``"Redis | None"``, ``Redis[bytes]`` -> the type named."""
        if annotation is None or depth > 12:
            return None
        if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
            try:
                annotation = ast.parse(annotation.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(annotation, ast.Subscript):
            head = mod.resolve(annotation.value) or ""
            if head.rsplit(".", 1)[-1] in ("Optional", "Union", "Annotated", "Final", "ClassVar"):
                inner = annotation.slice
                items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
                for item in items:
                    found = self.annotation_type(item, mod, depth + 1)
                    if found:
                        return found
                return None
            annotation = annotation.value
        if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
            return self.annotation_type(annotation.left, mod, depth + 1) or self.annotation_type(
                annotation.right, mod, depth + 1
            )
        if not isinstance(annotation, (ast.Name, ast.Attribute)):
            return None
        name = mod.resolve(annotation) or ""
        if name in EXTERNAL_TYPES:
            return Ext(EXTERNAL_TYPES[name])
        symbol = self.lookup_node(annotation, mod)
        if isinstance(symbol, ClassInfo):
            return Inst(symbol)
        return None

    def _call_type(self, call: ast.Call, mod: ModuleInfo, func: Func | None, depth: int) -> Type | None:
        name = mod.resolve(call.func) or ""
        if name in EXTERNAL_TYPES and isinstance(call.func, (ast.Name, ast.Attribute)):
            base = self.type_of(call.func.value, mod, func, depth + 1) if isinstance(call.func, ast.Attribute) else None
            if base is None:
                return Ext(EXTERNAL_TYPES[name])
        if isinstance(call.func, ast.Attribute):
            attr = call.func.attr
            if attr in ("sync_client", "async_client"):
                return Ext("redis" if attr == "sync_client" else "aredis")
            if attr == "register_script":
                return Ext("script")
            base = self.type_of(call.func.value, mod, func, depth + 1)
            if isinstance(base, Ext):
                if base.kind in REDIS_KINDS:
                    if attr == "pipeline":
                        return Ext("aredis-pipe" if base.kind.startswith("a") else "redis-pipe")
                    if base.kind.endswith("-pipe") and attr not in ("execute", "watch", "reset", "immediate_execute_command"):
                        return base  # a queued command returns the pipeline itself
                    if attr in ("from_url", "client"):
                        return Ext(base.kind)
                if base.kind == "logger" and attr in ("getChild", "bind"):
                    return base
                return None
            if isinstance(base, ClassRef) and attr in ("from_url", "create", "connect") and base.cls.method(attr) is None:
                return Inst(base.cls)
        target = self.target(call, mod, func, depth + 1)
        if isinstance(target, ClassInfo):
            return Inst(target)
        if isinstance(target, Func):
            return self.return_type(target, depth + 1)
        if isinstance(call.func, ast.Attribute) and call.func.attr in ("cls", "__class__"):
            return None
        if isinstance(call.func, ast.Name) and call.func.id == "cls" and func is not None and func.cls is not None:
            return Inst(func.cls)
        return None

    def return_type(self, func: Func, depth: int = 0) -> Type | None:
        """What a reviewed function returns: its annotation, else a ``return`` it makes."""
        found = self.annotation_type(func.node.returns, func.module, depth)
        if found:
            return found if not isinstance(found, ClassRef) else None
        if depth > 10:
            return None
        for child in walk_scope(func.node):
            if isinstance(child, ast.Return) and child.value is not None:
                found = self.type_of(child.value, func.module, func, depth + 1)
                if found and not isinstance(found, ClassRef):
                    return found
        return None

    # -- calls ---------------------------------------------------------------
    def target(self, call: ast.Call, mod: ModuleInfo, func: Func | None, depth: int = 0) -> Func | ClassInfo | None:
        """The reviewed function, method or class that ``call`` runs, if it can be told."""
        return self.reference(call.func, mod, func, depth)

    def reference(self, callee: ast.AST, mod: ModuleInfo, func: Func | None, depth: int = 0) -> Func | ClassInfo | None:
        """The reviewed function, method or class that a name or attribute refers to."""
        if isinstance(callee, ast.Name):
            if func is not None and callee.id in self._table(func):
                return None  # a local variable or parameter: we do not know what it holds
            symbol = self._module_attr(mod, callee.id)
            return symbol if isinstance(symbol, (Func, ClassInfo)) else None
        if not isinstance(callee, ast.Attribute):
            return None
        value = callee.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "super"
            and func is not None
            and func.cls is not None
        ):
            for base in func.cls.bases:
                found = base.method(callee.attr)
                if found:
                    return found
            return None
        base = self.type_of(value, mod, func, depth + 1)
        if isinstance(base, (Inst, ClassRef)):
            return base.cls.method(callee.attr)
        if base is not None:
            return None
        symbol = self.lookup_node(callee, mod)
        return symbol if isinstance(symbol, (Func, ClassInfo)) else None

    def implementations(self, call: ast.Call, mod: ModuleInfo, func: Func | None) -> list[Func]:
        """The function ``call`` runs, plus overrides in reviewed subclasses (``self.x()`` may reach any)."""
        found = self.target(call, mod, func)
        if not isinstance(found, Func):
            return []
        out = [found]
        if found.cls is not None:
            todo = list(found.cls.subclasses)
            seen: set[int] = set()
            while todo:
                sub = todo.pop()
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                override = sub.methods.get(found.name)
                if override is not None:
                    out.append(override)
                todo.extend(sub.subclasses)
        return out


_UNBOUND = object()


def _argument(call: ast.Call, node: ast.FunctionDef | ast.AsyncFunctionDef, param: ast.arg, shift: int) -> ast.AST | None:
    """The expression ``call`` passes for ``param`` (``shift``: leading parameters filled by the call itself)."""
    for kw in call.keywords:
        if kw.arg == param.arg:
            return kw.value
    positional = [*node.args.posonlyargs, *node.args.args]
    if param in positional:
        index = positional.index(param) - shift
        if 0 <= index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
            return call.args[index]
    return None


def _first_arg(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    args = [*node.args.posonlyargs, *node.args.args]
    return args[0].arg if args else None


def _is_self_attr(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _bindings(node: ast.AST) -> list[tuple[ast.AST, ast.AST]]:
    """(target, value) pairs that ``node`` binds (assignments and ``with ... as``)."""
    if isinstance(node, ast.Assign):
        out = []
        for target in node.targets:
            if isinstance(target, (ast.Tuple, ast.List)) and isinstance(node.value, (ast.Tuple, ast.List)):
                if len(target.elts) == len(node.value.elts):
                    out += list(zip(target.elts, node.value.elts))
            else:
                out.append((target, node.value))
        return out
    if isinstance(node, ast.AnnAssign):
        if node.value is not None:
            return [(node.target, node.value)]
        return []
    if isinstance(node, ast.NamedExpr):
        return [(node.target, node.value)]
    if isinstance(node, (ast.With, ast.AsyncWith)):
        return [(item.optional_vars, item.context_expr) for item in node.items if item.optional_vars is not None]
    return []
