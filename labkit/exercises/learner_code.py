"""Turn a learner's function from a notebook into a module a worker process can import.

Worker code that installs signal handlers, or that must show what it does to a
real heartbeat, has to run in its own process, not in the kernel. The checker
takes the function's source (``inspect.getsource`` works for notebook cells),
adds imports for the modules it uses, the source of helper functions it calls
and simple constants it reads, and writes it all to a file in a temp directory
that the worker process gets on its ``PYTHONPATH``.
"""

from __future__ import annotations

import inspect
import shutil
import tempfile
import textwrap
import types
from pathlib import Path
from typing import Any

from .framework import NotYet

HEADER = "import asyncio\nimport os\nimport signal\nimport sys\nimport threading\nimport time\nfrom labkit import llm\n"
MODULE = "learner_answer"
_HEADER_NAMES = {"asyncio", "os", "signal", "sys", "threading", "time", "llm"}


def _names(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _names_of(obj: Any) -> set[str]:
    """Global names a function (or every method of a class) refers to."""
    if inspect.isclass(obj):
        names = {b.__name__ for b in obj.__bases__}
        for member in vars(obj).values():
            if inspect.isfunction(member):
                names |= _names(member.__code__)
        return names
    return _names(obj.__code__)


def _globals_of(obj: Any) -> dict[str, Any]:
    if inspect.isclass(obj):
        for member in vars(obj).values():
            if inspect.isfunction(member):
                return member.__globals__
        return vars(inspect.getmodule(obj) or object())
    return obj.__globals__


def _source_of(fn: Any, what: str) -> str:
    try:
        return textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):
        raise NotYet(f"Could not read the source of your {what}; define it with `def` in a notebook cell "
                     "(not a lambda), or pass its source code as a string.") from None


def module_source(answer: Any, name: str, what: str) -> str:
    """Python source for a module that defines ``name`` from a function or a source string."""
    if isinstance(answer, str):
        body = textwrap.dedent(answer)
        try:
            code = compile(body, f"<your {what}>", "exec")
        except SyntaxError as exc:
            raise NotYet(f"Your {what} source has a syntax error on line {exc.lineno}: {exc.msg}") from None
        if name not in _names(code) and f"def {name}" not in body:
            raise NotYet(f"Your {what} source must define a function called {name}.")
        return HEADER + "\n" + body + "\n"
    if not inspect.isfunction(answer):
        raise NotYet(f"Pass your {what} function itself (or its source as a string); got {type(answer).__name__}.")
    parts, seen, todo = [], {answer.__name__}, [answer]
    fn: Any
    imports: list[str] = []
    while todo:
        fn = todo.pop()
        parts.append(_source_of(fn, what))
        for ref in sorted(_names_of(fn)):
            value = _globals_of(fn).get(ref)
            if isinstance(value, types.ModuleType) and ref not in _HEADER_NAMES:
                imports.append(f"import {value.__name__} as {ref}")
            elif (inspect.isfunction(value) or inspect.isclass(value)) and value.__module__ == fn.__module__ \
                    and ref not in seen:
                seen.add(ref)
                todo.append(value)
            elif isinstance(value, (int, float, str, bool)) and ref not in seen:
                seen.add(ref)
                imports.append(f"{ref} = {value!r}")
            elif inspect.isclass(value) and value.__module__ not in ("__main__", fn.__module__):
                imports.append(f"from {value.__module__} import {value.__qualname__} as {ref}")
    alias = "" if answer.__name__ == name else f"\n{name} = {answer.__name__}\n"
    return HEADER + "\n".join(sorted(set(imports))) + "\n\n" + "\n\n".join(reversed(parts)) + alias


class LearnerModule:
    """A temp directory holding ``learner_answer.py``; removed on exit."""

    def __init__(self, answer: Any, name: str, what: str) -> None:
        self.source = module_source(answer, name, what)
        self.name = name

    @property
    def spec(self) -> str:
        return f"{MODULE}:{self.name}"

    def __enter__(self) -> "LearnerModule":
        self.dir = Path(tempfile.mkdtemp(prefix="labkit-answer-"))
        (self.dir / f"{MODULE}.py").write_text(self.source)
        return self

    def __exit__(self, *exc: object) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
