"""Step points: the places where the interleaving explorer may pause an actor.

Two kinds:

* every Redis command an actor sends through a :class:`SteppedRedis` client
  (a plain command, a WATCH-mode read, or a whole pipeline / MULTI...EXEC,
  which reaches the server as one batch), and
* an explicit ``await step("label")`` in the actor's own code, for races on
  something other than Redis.

Who is stepping is found through a context variable set inside each actor's
task, so one client can be shared by all actors and code outside the explorer
runs with no pause at all (``step()`` is then a no-op).
"""

from __future__ import annotations

import contextvars
import hashlib
from typing import Any, Optional, Protocol, Sequence

import redis.asyncio as aredis
from redis.asyncio.client import Pipeline
from redis.exceptions import NoScriptError

Command = tuple  # the args tuple redis-py builds, e.g. ("HSET", "k", "f", "v")

#: Commands that never touch data: they run without becoming a step.
SILENT_COMMANDS = frozenset({"SCRIPT", "PING", "CLIENT", "HELLO", "SELECT", "ECHO", "INFO", "COMMAND"})


class StepHook(Protocol):
    """What an actor's step points report to (an explorer run or a stress run)."""

    async def before(self, kind: str, commands: Sequence[Command]) -> None:
        """Called before the step runs; may wait until the scheduler says go."""

    def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        """Called when the step's reply (or error) is back."""


_current: contextvars.ContextVar[Optional[StepHook]] = contextvars.ContextVar("labkit_step_hook", default=None)


def current_hook() -> Optional[StepHook]:
    return _current.get()


def set_hook(hook: Optional[StepHook]) -> None:
    """Attach ``hook`` to the running task's context (call it inside the actor's task)."""
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
    hook.after([command], None, None)


def _name(command: Command) -> str:
    head = command[0]
    if isinstance(head, bytes):
        head = head.decode(errors="replace")
    return str(head).upper().split(" ")[0]


def is_silent(command: Command) -> bool:
    return _name(command) in SILENT_COMMANDS


async def _stepped(kind: str, commands: Sequence[Command], run: Any) -> Any:
    hook = _current.get()
    await hook.before(kind, commands)  # type: ignore[union-attr]
    try:
        reply = await run()
    except Exception as exc:
        hook.after(commands, None, exc)  # type: ignore[union-attr]
        raise
    hook.after(commands, reply, None)  # type: ignore[union-attr]
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


# --- labels ------------------------------------------------------------------

_script_names: dict[str, str] = {}


def script_name(source: str) -> str:
    """A short name for a Lua script: its first ``-- comment`` line, else its sha prefix."""
    sha = hashlib.sha1(source.encode()).hexdigest()
    if sha not in _script_names:
        first = next((ln.strip() for ln in source.strip().splitlines() if ln.strip()), "")
        name = first[2:].strip().split()[0] if first.startswith("--") and first[2:].strip() else f"lua:{sha[:7]}"
        _script_names[sha] = name
    return _script_names[sha]


def _text(value: Any, prefix: str) -> str:
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    text = str(value)
    return text.replace(prefix, "") if prefix else text


def describe_command(command: Command, prefix: str = "") -> str:
    """``("HSET", "<prefix>doc:d1", "state", "FAIL")`` -> ``HSET doc:d1 state FAIL``."""
    name = _name(command)
    args = list(command[1:])
    if name == "STEP":
        return f"step {args[0]}"
    if name == "EVAL" and args:
        args[0] = f"<{script_name(_text(args[0], ''))}>"
    elif name == "EVALSHA" and args:
        sha = _text(args[0], "")
        args[0] = f"<{_script_names.get(sha, 'lua:' + sha[:7])}>"
    text = " ".join([name] + [_text(a, prefix) for a in args])
    return text if len(text) <= 90 else text[:87] + "..."


def describe_step(kind: str, commands: Sequence[Command], prefix: str = "") -> str:
    """A readable label for one step: a command, or a whole batch."""
    if kind in ("command", "step"):
        return describe_command(commands[0], prefix)
    inner = "; ".join(describe_command(c, prefix) for c in commands)
    head = "MULTI/EXEC" if kind == "transaction" else "PIPELINE"
    return f"{head} [{inner}]"


def noscript_sha(commands: Sequence[Command], error: Optional[BaseException]) -> Optional[str]:
    """If a lone EVALSHA failed with NOSCRIPT, its sha (redis-py will load and resend it)."""
    if isinstance(error, NoScriptError) and len(commands) == 1 and _name(commands[0]) == "EVALSHA":
        return _text(commands[0][1], "")
    return None


def is_evalsha(commands: Sequence[Command], sha: str) -> bool:
    return len(commands) == 1 and _name(commands[0]) == "EVALSHA" and _text(commands[0][1], "") == sha
