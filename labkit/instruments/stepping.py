"""Step points: the places where the interleaving explorer may pause an actor.

Two kinds:

* every Redis command an actor sends through a :class:`SteppedRedis` client
  (a plain command, a WATCH-mode read, or a whole pipeline / MULTI...EXEC,
  which reaches the server as one batch), and
* an explicit ``await step("label")`` in the actor's own code, for races on
  something other than Redis.

Async actors use :class:`SteppedRedis`; sync actors, run in threads, use
:class:`SyncSteppedRedis`, whose step points block their thread until its turn.
Who is stepping is found through a context variable set inside each actor's
task or thread, so one client can be shared by all actors and code outside the
explorer runs with no pause at all (``step()`` is then a no-op).
"""

from __future__ import annotations

import contextvars
import enum
import hashlib
import re
from typing import Any, Awaitable, Optional, Protocol, Sequence

import redis
import redis.asyncio as aredis
from redis.asyncio.client import Pipeline
from redis.client import Pipeline as SyncPipeline
from redis.exceptions import NoScriptError

Command = tuple  # the args tuple redis-py builds, e.g. ("HSET", "k", "f", "v")

#: Commands that never touch data: they run without becoming a step.
SILENT_COMMANDS = frozenset({"SCRIPT", "PING", "CLIENT", "HELLO", "SELECT", "ECHO", "INFO", "COMMAND"})


class StepHook(Protocol):
    """What an actor's step points report to (an explorer run or a stress run).

    Async actors call ``before``/``after``; actors run in threads (sync clients)
    call ``before_blocking``/``after_blocking`` from their own thread.
    """

    async def before(self, kind: str, commands: Sequence[Command]) -> None:
        """Called before the step runs; may wait until the scheduler says go."""

    def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> Optional[Awaitable[None]]:
        """Called when the step's reply (or error) is back; may return something to await."""

    def before_blocking(self, kind: str, commands: Sequence[Command]) -> None:
        """As ``before``, from a thread: blocks that thread until its turn."""

    def after_blocking(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        """As ``after``, from a thread."""

    def fake_reply(self, commands: Sequence[Command]) -> Any:
        """A reply to give instead of sending the step (the pinned clock's TIME), or ``NOT_FAKED``."""


NOT_FAKED = object()

_current: contextvars.ContextVar[Optional[StepHook]] = contextvars.ContextVar("labkit_step_hook", default=None)


def current_hook() -> Optional[StepHook]:
    return _current.get()


def set_hook(hook: Optional[StepHook]) -> None:
    """Attach ``hook`` to the running task's (or thread's) context; call it inside the actor."""
    _current.set(hook)


async def step(label: str) -> None:
    """An explicit step point: under the explorer, wait here for this actor's turn."""
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"step() needs a non-empty label, got {label!r}")
    hook = _current.get()
    if hook is None:
        return
    command = ("STEP", label)
    await hook.before("step", [command])
    pending = hook.after([command], None, None)
    if pending is not None:
        await pending


def _name(command: Command) -> str:
    head = command[0]
    if isinstance(head, bytes):
        head = head.decode(errors="replace")
    return str(head).upper().split(" ")[0]


def command_name(command: Command) -> str:
    """``HSET`` for ``("HSET", ...)``; ``SCRIPT`` for ``("SCRIPT LOAD", ...)``."""
    return _name(command)


def is_silent(command: Command) -> bool:
    return _name(command) in SILENT_COMMANDS


async def _stepped(kind: str, commands: Sequence[Command], run: Any) -> Any:
    hook = _current.get()
    assert hook is not None
    await hook.before(kind, commands)
    reply = hook.fake_reply(commands)
    try:
        if reply is NOT_FAKED:
            reply = await run()
    except Exception as exc:
        pending = hook.after(commands, None, exc)
        if pending is not None:
            await pending
        raise
    pending = hook.after(commands, reply, None)
    if pending is not None:
        await pending
    return reply


def _stepped_blocking(kind: str, commands: Sequence[Command], run: Any) -> Any:
    hook = _current.get()
    assert hook is not None
    hook.before_blocking(kind, commands)
    reply = hook.fake_reply(commands)
    try:
        if reply is NOT_FAKED:
            reply = run()
    except Exception as exc:
        hook.after_blocking(commands, None, exc)
        raise
    hook.after_blocking(commands, reply, None)
    return reply


class SteppedRedis(aredis.Redis):
    """A ``redis.asyncio.Redis`` whose commands are step points inside an explorer run."""

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _current.get() is None or is_silent(args):
            return await super().execute_command(*args, **options)
        parent = super(SteppedRedis, self)
        return await _stepped("command", [args], lambda: parent.execute_command(*args, **options))

    def register_script(self, script: Any) -> Any:
        script_name(script.decode() if isinstance(script, bytes) else str(script))  # so EVALSHA reads well
        return super().register_script(script)

    def pipeline(self, transaction: bool = True, shard_hint: Optional[str] = None) -> "SteppedPipeline":
        return SteppedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class SteppedPipeline(Pipeline):
    """A pipeline whose immediate (WATCH-mode) commands and ``execute()`` are step points."""

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        if _current.get() is None or is_silent(args):
            return await super().immediate_execute_command(*args, **options)
        parent = super(SteppedPipeline, self)
        return await _stepped("command", [args], lambda: parent.immediate_execute_command(*args, **options))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        if _current.get() is None or (not self.command_stack and not self.watching):
            return await super().execute(raise_on_error)
        kind = "transaction" if (self.is_transaction or self.explicit_transaction) else "pipeline"
        commands = [args for args, _ in self.command_stack]
        parent = super(SteppedPipeline, self)
        return await _stepped(kind, commands, lambda: parent.execute(raise_on_error))


class SyncSteppedRedis(redis.Redis):
    """A sync ``redis.Redis`` whose commands are step points for an actor run in a thread."""

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if _current.get() is None or is_silent(args):
            return super().execute_command(*args, **options)
        parent = super(SyncSteppedRedis, self)
        return _stepped_blocking("command", [args], lambda: parent.execute_command(*args, **options))

    def register_script(self, script: Any) -> Any:
        script_name(script.decode() if isinstance(script, bytes) else str(script))
        return super().register_script(script)

    def pipeline(self, transaction: bool = True, shard_hint: Optional[str] = None) -> "SyncSteppedPipeline":
        return SyncSteppedPipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)


class SyncSteppedPipeline(SyncPipeline):
    """The sync pipeline: WATCH-mode commands and ``execute()`` are step points."""

    def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        if _current.get() is None or is_silent(args):
            return super().immediate_execute_command(*args, **options)
        parent = super(SyncSteppedPipeline, self)
        return _stepped_blocking("command", [args], lambda: parent.immediate_execute_command(*args, **options))

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        if _current.get() is None or (not self.command_stack and not self.watching):
            return super().execute(raise_on_error)
        kind = "transaction" if (self.transaction or self.explicit_transaction) else "pipeline"
        commands = [args for args, _ in self.command_stack]
        parent = super(SyncSteppedPipeline, self)
        return _stepped_blocking(kind, commands, lambda: parent.execute(raise_on_error))


# --- labels ------------------------------------------------------------------

_script_names: dict[str, str] = {}
_CALLS = re.compile(r"redis\.p?call\(\s*['\"]([A-Za-z]+)['\"]")


def name_script(source: str | bytes, name: str) -> str:
    """Give a Lua script a readable name in traces (for scripts you cannot add a comment to)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a script name is a non-empty string, got {name!r}")
    text = source.decode() if isinstance(source, bytes) else str(source)
    _script_names[hashlib.sha1(text.encode()).hexdigest()] = name.strip()
    return name.strip()


def script_name(source: str) -> str:
    """A short name for a Lua script.

    Its first line when that is a ``-- name`` comment; else a name given with
    :func:`name_script`; else what it calls: ``lua(ZADD,HSET)``.
    """
    sha = hashlib.sha1(source.encode()).hexdigest()
    if sha not in _script_names:
        first = next((ln.strip() for ln in source.strip().splitlines() if ln.strip()), "")
        if first.startswith("--") and first[2:].strip():
            name = first[2:].strip().split()[0]
        else:
            calls = list(dict.fromkeys(c.upper() for c in _CALLS.findall(source)))
            name = f"lua({','.join(calls[:4])}{',...' if len(calls) > 4 else ''})" if calls else f"lua:{sha[:7]}"
        _script_names[sha] = name
    return _script_names[sha]


def _text(value: Any, prefix: str) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    elif isinstance(value, enum.Enum) and isinstance(value, str):
        value = value.value  # what redis-py sends for a str enum (JobStatus.FAILED goes out as 'failed')
    text = str(value)
    return text.replace(prefix, "") if prefix else text


def describe_command(command: Command, prefix: str = "", limit: Optional[int] = 90) -> str:
    """``("HSET", "<prefix>doc:d1", "state", "FAIL")`` -> ``HSET doc:d1 state FAIL``."""
    name = _name(command)
    args = list(command[1:])
    head = _text(command[0], "").upper()  # "XGROUP CREATE": keep the subcommand
    if name == "STEP":
        return f"step {args[0]}"
    if name == "EVAL" and args:
        args[0] = f"<{script_name(_text(args[0], ''))}>"
    elif name == "EVALSHA" and args:
        sha = _text(args[0], "")
        args[0] = f"<{_script_names.get(sha, 'lua:' + sha[:7])}>"
    text = " ".join([head if name != "EVAL" and name != "EVALSHA" else name] + [_text(a, prefix) for a in args])
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def describe_step(kind: str, commands: Sequence[Command], prefix: str = "", limit: Optional[int] = 90) -> str:
    """A readable label for one step: a command, or a whole batch (``limit=None``: nothing cut)."""
    if kind in ("command", "step"):
        return describe_command(commands[0], prefix, limit)
    inner = "; ".join(describe_command(c, prefix, limit) for c in commands)
    head = "MULTI/EXEC" if kind == "transaction" else "PIPELINE"
    return f"{head} [{inner}]"


def noscript_sha(commands: Sequence[Command], error: Optional[BaseException]) -> Optional[str]:
    """If a lone EVALSHA failed with NOSCRIPT, its sha (redis-py will load and resend it)."""
    if isinstance(error, NoScriptError) and len(commands) == 1 and _name(commands[0]) == "EVALSHA":
        return _text(commands[0][1], "")
    return None


def is_evalsha(commands: Sequence[Command], sha: str) -> bool:
    return len(commands) == 1 and _name(commands[0]) == "EVALSHA" and _text(commands[0][1], "") == sha
