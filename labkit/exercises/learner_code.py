"""Turn a learner's function from a notebook into a module a worker process can import.

Worker code that installs signal handlers, or that must show what it does to a
real heartbeat, has to run in its own process, not in the kernel. The checker
takes the function's source (``inspect.getsource`` works for notebook cells)
and rebuilds, in that module, every notebook global the function reads: modules
and names imported from them, enum members, numbers, strings, containers of
those, executors, and the helper functions and classes defined in the notebook
(with their decorators). A global that cannot be rebuilt (an open client, a
lambda) is a one-line "not yet" naming it, before any process starts.

The worker side (:mod:`labkit.tasks.learner_guard`) defines each function under
its cell's file name and line numbers and reports what escapes learner code;
:meth:`LearnerModule.__exit__` turns that report into the card's cause.
"""

from __future__ import annotations

import ast
import concurrent.futures
import dis
import enum
import functools
import importlib
import inspect
import json
import math
import shutil
import tempfile
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..scratch import owned_prefix, temp_root
from ..tasks.learner_guard import REPORT
from .framework import NotYet

HEADER = "import asyncio\nimport os\nimport signal\nimport sys\nimport threading\nimport time\nfrom labkit import llm\n"
MODULE = "learner_answer"
WHY = "a real worker process, so that signals and heartbeats act on it as they would in production"
_PLAIN = (type(None), bool, int, str, bytes)
_EXECUTORS = (concurrent.futures.ThreadPoolExecutor, concurrent.futures.ProcessPoolExecutor)


class Uncarried(Exception):
    """A notebook global the worker process cannot rebuild; the message says why."""


def _global_loads(code: types.CodeType) -> set[str]:
    """Names the code (and code nested in it) reads as globals, by its bytecode."""
    names = {i.argval for i in dis.get_instructions(code) if i.opname in ("LOAD_GLOBAL", "LOAD_NAME")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_loads(const)
    return names


class _DefTimeNames(ast.NodeVisitor):
    """Names read when a ``def``/``class`` statement runs: decorators, defaults, annotations, bases."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.names.add(node.id)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for part in (*node.decorator_list, node.args, node.returns):
            if part is not None:
                self.visit(part)  # the body runs later: its names come from the bytecode

    visit_FunctionDef = visit_AsyncFunctionDef = _function  # type: ignore[assignment]


def _source(obj: Any, what: str) -> tuple[str, str, int]:
    """(dedented source, file name, first line) of a function or class from a cell or file."""
    try:
        lines, first = inspect.getsourcelines(obj)
    except (OSError, TypeError):
        raise NotYet(f"Could not read the source of your {what}; define it with `def` in a notebook cell "
                     "(not a lambda), or pass its source code as a string.") from None
    code = getattr(inspect.unwrap(obj), "__code__", None)
    filename = code.co_filename if code is not None else inspect.getsourcefile(obj) or f"<your {what}>"
    return textwrap.dedent("".join(lines)), filename, max(first, 1)


def _reads(obj: Any, source: str) -> dict[str, Any]:
    """The notebook globals (and closure values) a function or class reads, by name."""
    visitor = _DefTimeNames()
    visitor.visit(ast.parse(source))
    names = set(visitor.names)
    inner = inspect.unwrap(obj)
    codes = [inner.__code__] if inspect.isfunction(inner) else \
        [m.__code__ for m in vars(obj).values() if inspect.isfunction(m)] if inspect.isclass(obj) else []
    for code in codes:
        names |= _global_loads(code)
    scope: dict[str, Any] = {}
    if inspect.isfunction(inner):
        scope = {**inner.__globals__, **inspect.getclosurevars(inner).nonlocals}
    elif inspect.isclass(obj):
        module = inspect.getmodule(obj)
        scope = vars(module) if module else {}
        for method in vars(obj).values():
            if inspect.isfunction(method):
                scope = method.__globals__
                break
    return {name: scope[name] for name in sorted(names) if name in scope}


def _importable(obj: Any, home: str) -> str | None:
    """An expression that imports ``obj`` from its module, if it is reachable there."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if not module or not qualname or module in ("__main__", home) or "<" in qualname:
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    return f"importlib.import_module({module!r}).{qualname}" if found is obj else None


@dataclass
class _Builder:
    """Collects the module: value bindings, and definitions of the notebook's own code."""

    home: str
    what: str
    bindings: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)  # bindings that refer to notebook functions
    defs: list[tuple[str, str, int]] = field(default_factory=list)
    seen: dict[int, str] = field(default_factory=dict)
    touches_defs: bool = False

    def expr(self, value: Any) -> str:
        """Python source that rebuilds ``value`` in the worker process, or :class:`Uncarried`."""
        if isinstance(value, enum.Enum):
            cls = _importable(type(value), self.home)
            if cls is None:
                cls = self.define(type(value))
            return f"{cls}[{value.name!r}]"
        if isinstance(value, _PLAIN):
            return repr(value)
        if isinstance(value, float):
            return repr(value) if math.isfinite(value) else f"float({str(value)!r})"
        if isinstance(value, types.ModuleType):
            return f"importlib.import_module({value.__name__!r})"
        if isinstance(value, (tuple, list, set, frozenset)):
            items = ", ".join(self.expr(v) for v in value)
            if isinstance(value, tuple):
                return f"({items}{',' if len(value) == 1 else ''})"
            if isinstance(value, list):
                return f"[{items}]"
            return f"{type(value).__name__}([{items}])"
        if isinstance(value, dict):
            return "{" + ", ".join(f"{self.expr(k)}: {self.expr(v)}" for k, v in value.items()) + "}"
        if isinstance(value, _EXECUTORS):
            return f"{_importable(type(value), self.home)}(max_workers={value._max_workers})"
        imported = _importable(value, self.home)
        if imported is not None:
            return imported
        if inspect.isfunction(inspect.unwrap(value)) or inspect.isclass(value):
            return self.define(value)
        raise Uncarried(f"a {type(value).__name__} object, which cannot be rebuilt in another process")

    def define(self, obj: Any) -> str:
        """Write a notebook function or class (with its decorators) into the module; its name there."""
        inner = inspect.unwrap(obj)
        if id(inner) in self.seen:
            self.touches_defs = True
            return self.seen[id(inner)]
        if inner.__name__ == "<lambda>":
            raise Uncarried("a lambda, whose source cannot be taken on its own; define it with `def`")
        if inspect.isfunction(inner) and inner.__module__ not in ("__main__", self.home):
            raise Uncarried(f"a function from module {inner.__module__} that cannot be imported by name")
        self.seen[id(inner)] = inner.__name__
        try:
            source, filename, first = _source(obj, self.what)
        except NotYet:
            if len(self.seen) == 1:  # the answer itself: the hint says how to pass it
                raise
            kind = "class" if inspect.isclass(obj) else "function"
            raise Uncarried(f"a {kind} defined in the notebook whose source Python cannot read back; define it "
                            "in a .py file next to the notebook and import it") from None
        self.defs.append((source, filename, first))
        for name, value in _reads(obj, source).items():
            self.bind(name, value)
        self.touches_defs = True
        return inner.__name__

    def bind(self, name: str, value: Any) -> None:
        if value is _header_names().get(name, _Builder):
            return
        before, self.touches_defs = self.touches_defs, False
        try:
            inner = inspect.unwrap(value)
            if inspect.isfunction(inner) and inner.__name__ == name and _importable(value, self.home) is None:
                self.define(value)  # a helper under its own name: its `def` binds it
            else:
                line = f"{name} = {self.expr(value)}"
                (self.late if self.touches_defs else self.bindings).append(line)
        except Uncarried as exc:
            raise Uncarried(f"`{name}` ({exc})" if not str(exc).startswith("`") else str(exc)) from None
        self.touches_defs = before or self.touches_defs


@functools.cache
def _header_names() -> dict[str, Any]:
    """The modules every learner module starts with (read when first needed: labkit imports this module)."""
    scope: dict[str, Any] = {}
    exec(HEADER, scope)
    return {k: v for k, v in scope.items() if not k.startswith("__")}


def module_source(answer: Any, name: str, what: str, why: str = WHY) -> str:
    """Python source for a module that defines ``name`` from a function or a source string.

    ``why`` says why the check runs the code in another process; it is part of
    the one-line hint when a notebook global cannot be carried over.
    """
    prelude = HEADER + ("import importlib\nfrom labkit.tasks import learner_guard as _labkit_guard\n"
                        "_labkit_guard.start(__file__)\n")
    if isinstance(answer, str):
        body = textwrap.dedent(answer)
        try:
            code = compile(body, f"<your {what}>", "exec")
        except SyntaxError as exc:
            raise NotYet(f"Your {what} source has a syntax error on line {exc.lineno}: {exc.msg}") from None
        if name not in code.co_names and f"def {name}" not in body:
            raise NotYet(f"Your {what} source must define a function called {name}.")
        return (prelude + f"_labkit_guard.define(globals(), {body!r}, {f'<your {what}>'!r}, 1)\n"
                f"{name} = _labkit_guard.guard({name})\n")
    if not inspect.isfunction(inspect.unwrap(answer)):
        raise NotYet(f"Pass your {what} function itself (or its source as a string); got {type(answer).__name__}.")
    builder = _Builder(home=inspect.unwrap(answer).__module__, what=what)
    try:
        defined = builder.define(answer)
    except Uncarried as exc:
        raise NotYet(f"Your {what} reads the notebook global {exc}; this check runs {what} in {why}, where "
                     "the notebook's globals do not exist. Create or import it inside the function "
                     "instead.") from None
    defs = [f"_labkit_guard.define(globals(), {src!r}, {filename!r}, {first})"
            for src, filename, first in reversed(builder.defs)]
    return "\n".join([prelude, *dict.fromkeys(builder.bindings), *defs, *dict.fromkeys(builder.late),
                      f"{name} = _labkit_guard.guard({defined})", ""])


@dataclass(frozen=True)
class LearnerFault:
    """One thing the worker reported about learner code (see :mod:`labkit.tasks.learner_guard`)."""

    kind: str  # raised | stuck | returned
    worker: str
    function: str
    type: str = ""
    message: str = ""
    line: int | None = None
    code: str = ""
    traceback: str = ""
    after_s: float = 0.0

    def where(self) -> str:
        return f" at line {self.line}: `{self.code.strip()}`" if self.line else ""

    def hint(self, what: str) -> str:
        if self.kind == "stuck":
            tip = ("`Thread.run()` runs the thread's function right here, in the caller; `Thread.start()` runs it "
                   "in a new thread and returns at once. " if ".run(" in self.code else "")
            return (f"Your {self.function} had not returned {self.after_s:g} s after worker {self.worker} called it; "
                    f"it was still running{self.where()}. {tip}It must set things up and return at once.")
        if self.type == "SystemExit":
            return (f"Your code called sys.exit({self.message}){self.where()} in worker {self.worker}, ending the "
                    f"whole process. Return from {what} instead (or set the stop event) and let the worker finish.")
        source = ("code" if self.function == "your code" else
                  f"code (in {self.function})" if self.function.startswith("thread") else self.function)
        return f"Your {source} raised {self.type}: {self.message}{self.where()} in worker {self.worker}."


def read_faults(directory: Path) -> list[LearnerFault]:
    try:
        text = (directory / REPORT).read_text(encoding="utf-8")
    except OSError:
        return []
    fields = set(LearnerFault.__dataclass_fields__)
    faults = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a killed worker
        faults.append(LearnerFault(**{k: v for k, v in record.items() if k in fields}))
    return faults


def blame(faults: list[LearnerFault], what: str, failed: bool) -> NotYet | None:
    """The cause to show first: an exception from learner code, or (when the run failed) a call that hung."""
    raised = [f for f in faults if f.kind == "raised"]
    if raised:
        return NotYet(raised[0].hint(what), details=raised[0].traceback)
    returned = {(f.worker, f.function) for f in faults if f.kind == "returned"}
    stuck = [f for f in faults if f.kind == "stuck" and (f.worker, f.function) not in returned]
    if failed and stuck:
        return NotYet(stuck[0].hint(what), details=stuck[0].traceback)
    return None


class LearnerModule:
    """A temp directory holding ``learner_answer.py``; removed on exit.

    Leaving the ``with`` block raises the learner's own fault (what their code
    raised in a worker, or a call that never returned) in place of whatever the
    run looked like from outside, so the card names the cause first.
    """

    def __init__(self, answer: Any, name: str, what: str, why: str = WHY) -> None:
        self.source = module_source(answer, name, what, why)
        self.name = name
        self.what = what

    @property
    def spec(self) -> str:
        return f"{MODULE}:{self.name}"

    def faults(self) -> list[LearnerFault]:
        return read_faults(self.dir)

    def __enter__(self) -> "LearnerModule":
        self.dir = Path(tempfile.mkdtemp(prefix=owned_prefix("answer"), dir=temp_root()))
        (self.dir / f"{MODULE}.py").write_text(self.source)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            cause = blame(self.faults(), self.what, failed=exc is not None)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
        if cause is not None and not isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise cause from None
