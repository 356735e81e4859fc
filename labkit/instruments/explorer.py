"""The interleaving explorer: run actors against the real Redis, one step at a time.

A *scenario* is a few *actors*, a ``setup`` that writes the starting state,
and *invariants* that judge a run. An actor is ``async def actor(client, *args)``
(it gets a ``redis.asyncio`` client) or a plain ``def actor(client, *args)``,
run in a thread of its own with a sync ``redis.Redis`` - the shape of much real
recovery code (RQ's registries, Celery's Redis backend). Give arguments as
``actors={"worker": (finish_job, "j1")}`` or with ``functools.partial``, and
the client's options (``decode_responses=False`` for a byte-oriented library,
its own connection kwargs) as ``client_options``.

The explorer decides which actor's next step runs - a step is one Redis
command sent through the client it hands the actor (see
:mod:`labkit.instruments.stepping`), a whole pipeline or MULTI/EXEC, or an
explicit ``await step("label")`` - so it can:

* :meth:`Explorer.explore` - enumerate every schedule (depth-first, with bounds,
  counting what was cut), resetting the keys the scenario writes between runs
  and checking the invariants after each;
* :meth:`Explorer.replay` - run one schedule again, exactly, from its id;
* :meth:`Explorer.stress` - the comparison: run the actors freely at the same
  time, many times, over several seeds (or ``scheduled=True``: random schedules
  through the same controlled runner, reproducible from the seed);
* :meth:`Explorer.session` - step by hand (the "be the scheduler" widget).

Keys: the explorer tracks every key its actors and ``setup`` name (the server's
``COMMAND`` table says where the keys sit), snapshots only those, and deletes
the ones they write before each run - no SCAN, so a shared server with a
million keys costs what an empty one does. States are keyed by the keys the
code writes; ``state["doc:d1"]`` also finds ``<prefix>doc:d1``, and traces
print keys without the target's prefix.

A blocking command (BLMOVE, BRPOPLPUSH, BLPOP, XREADGROUP BLOCK...) makes its
actor not enabled until it would return at once (its list or sorted set has an
item; its stream changed); an actor still blocked when nothing else can step
ends the run as "blocked", as a real worker waiting for work would.

What the explorer cannot see, so cannot schedule or reset:

* work outside Redis - files, HTTP calls, another database, a Python variable
  shared between actors (mark such a race with ``await step("label")``);
* time - actors that read the clock replay exactly only with ``clock=StepClock(...)``,
  and only through ``time.time()``/``time.time_ns()``/Redis ``TIME``; a run that
  read the real time says so in its trace; ``datetime.now()`` is not seen;
* other processes and threads it did not start, including threads an actor starts
  itself, and keys a Lua script touches without declaring them in ``KEYS``;
* the OS scheduler: ``stress()`` without ``scheduled=True`` interleaves as the
  machine happens to, so only its random delays are reproducible from a seed.

Only one actor runs between two step points, so a run is determined by its
schedule. An actor that finishes early simply drops out; one that raises is
recorded; one that does not reach its next step within ``step_timeout`` (an
async actor is cancelled; a thread cannot be, and is left to finish on its own)
is reported as hung, so the explorer itself never hangs.

Nothing here knows about documents or tasks: :mod:`labkit.lessons.race_demo` builds
the DONE->FAIL scenario on top.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, Union

import redis
import redis.asyncio as aredis

from ..errors import LabError
from ..redis.target import RedisTarget
from .clock import StepClock, intercept_time
from .keyspec import KeyTable
from .stepping import (
    NOT_FAKED,
    Command,
    SteppedRedis,
    SyncSteppedRedis,
    describe_step,
    is_evalsha,
    noscript_sha,
    set_hook,
    step,
)

__all__ = [
    "Explorer", "ExploreResult", "RunResult", "StepRecord", "ActorOutcome", "StressResult", "Mismatch",
    "Session", "Snapshot", "StepClock", "ExplorerError", "ScheduleMismatch", "step", "format_value",
]

ActorFn = Callable[..., Any]
ActorSpec = Union[ActorFn, tuple]
Setup = Callable[[Any], Any]
Invariant = Callable[["RunResult"], Any]

# run outcomes
OK, VIOLATION, ERROR, HUNG, BOUND = "ok", "violation", "error", "hung", "step-bound"
# actor states
_STARTING, _RUNNING, _WAITING, _DONE, _RAISED, _HUNG, _STOPPED, _BLOCKED = (
    "starting", "running", "waiting", "finished", "raised", "hung", "stopped", "blocked")


class ExplorerError(LabError):
    """The scenario cannot be explored as written (bad actors, bad arguments...)."""


class ScheduleMismatch(ExplorerError):
    """A schedule id that does not fit this scenario (wrong actor at some step, or wrong length)."""


class _Abandon(BaseException):
    """Raised inside an actor's thread to unwind it when its run is over (not an Exception: libraries catch those)."""


# --- states: only the keys the scenario touches, each one server round trip ------------------

_SNAPSHOT = """
-- snapshot
local out = {}
for _, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  local v
  if t == 'none' then v = nil
  elseif t == 'string' then v = redis.call('GET', k)
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  elseif t == 'stream' then
    v = {}
    for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do table.insert(v, e[1]) end
  else v = {} end
  if v ~= nil then table.insert(out, {k, t, v}) end
end
return out
"""

_RESET = """
-- reset
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do n = n + redis.call('DEL', k) end
for i = 2, #KEYS do n = n + redis.call('DEL', KEYS[i]) end
if #KEYS > 1 then redis.call('SADD', KEYS[1], unpack(KEYS, 2)) end
return n
"""


def _str(value: Any) -> Any:
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value


class Snapshot(dict):
    """Redis state after a step, keyed by the keys the code writes.

    ``state["doc:d1"]`` (and ``get``, ``in``) also finds ``<prefix>doc:d1``, the
    key under the explorer target's prefix; :meth:`short` is how traces print a key.
    """

    prefix: str = ""

    def __init__(self, items: Any = (), prefix: str = "") -> None:
        super().__init__(items)
        self.prefix = prefix

    def _full(self, key: Any) -> Any:
        if isinstance(key, str) and self.prefix and not dict.__contains__(self, key):
            return self.prefix + key
        return key

    def __getitem__(self, key: Any) -> Any:
        return dict.__getitem__(self, self._full(key))

    def __contains__(self, key: Any) -> bool:
        return dict.__contains__(self, self._full(key))

    def get(self, key: Any, default: Any = None) -> Any:
        return dict.get(self, self._full(key), default)

    def short(self, key: str) -> str:
        return key[len(self.prefix):] if self.prefix and key.startswith(self.prefix) else key


def _decode_snapshot(raw: Sequence[Any], prefix: str) -> Snapshot:
    state: dict[Any, Any] = {}
    for key, kind, value in raw:
        name, kind = _str(key), _str(kind)
        value = [_str(v) for v in value] if isinstance(value, list) else _str(value)
        if kind == "hash":
            state[name] = dict(zip(value[::2], value[1::2]))
        elif kind == "set":
            state[name] = frozenset(value)
        elif kind in ("list", "stream"):
            state[name] = list(value)
        elif kind == "zset":
            state[name] = [(m, float(s)) for m, s in zip(value[::2], value[1::2])]
        elif kind == "string":
            state[name] = value
        else:
            state[name] = f"<{kind}>"
    return Snapshot(sorted(state.items(), key=lambda kv: str(kv[0])), prefix)


_TABLES: dict[str, KeyTable] = {}


class _Keys:
    """The keys one explorer's actors and setup have named, and the ones they write."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.registry = target.key("__explorer_written")
        self.seen: dict[str, None] = {}
        self.written: dict[str, None] = {}
        self.table: Optional[KeyTable] = None

    async def load(self) -> KeyTable:
        if self.table is None:
            if self.target.url not in _TABLES:
                def fetch() -> KeyTable:
                    with redis.Redis.from_url(self.target.url) as client:
                        return KeyTable.load(client)
                _TABLES[self.target.url] = await asyncio.to_thread(fetch)
            self.table = _TABLES[self.target.url]
        return self.table

    def track(self, commands: Sequence[Command]) -> None:
        assert self.table is not None
        seen, written = self.table.touched(commands)
        for k in seen:
            self.seen.setdefault(k)
        for k in written:
            self.written.setdefault(k)

    async def reset(self, admin: aredis.Redis) -> None:
        await admin.eval(_RESET, 1 + len(self.written), self.registry, *self.written)

    async def snapshot(self, admin: aredis.Redis) -> Snapshot:
        if not self.seen:
            return Snapshot((), self.target.prefix)
        raw = await admin.eval(_SNAPSHOT, len(self.seen), *self.seen)
        return _decode_snapshot(raw, self.target.prefix)

    def snapshot_blocking(self, admin: redis.Redis) -> Snapshot:
        if not self.seen:
            return Snapshot((), self.target.prefix)
        return _decode_snapshot(admin.eval(_SNAPSHOT, len(self.seen), *list(self.seen)), self.target.prefix)


def format_value(value: Any) -> str:
    """A compact, stable rendering of one snapshot value."""
    if value is None:
        return "(deleted)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(map(str, value))) + "}" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)


def _short(value: Any, limit: Optional[int] = 60) -> str:
    text = repr(value)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _changed(before: Snapshot, after: Snapshot) -> tuple[str, ...]:
    keys = sorted(set(before) | set(after), key=str)
    return tuple(k for k in keys if dict.get(before, k) != dict.get(after, k))


# --- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRecord:
    """One executed step: who ran, what it sent, what came back, the state after it."""

    index: int
    actor: str
    label: str
    reply: str
    state: Snapshot
    changed: tuple[str, ...]
    full_reply: str = ""
    full_label: str = ""
    real_time: bool = False


@dataclass
class ActorOutcome:
    """How one actor ended in one run."""

    name: str
    status: str
    result: Any = None
    error: Optional[BaseException] = None
    steps: int = 0
    note: str = ""

    def describe(self) -> str:
        if self.status == _DONE:
            return f"{self.name}: finished after {self.steps} steps, returned {_short(self.result)}"
        if self.status == _RAISED:
            return f"{self.name}: raised {type(self.error).__name__}: {self.error} (after {self.steps} steps)"
        return f"{self.name}: {self.status} after {self.steps} steps{' - ' + self.note if self.note else ''}"


@dataclass
class RunResult:
    """One run of the scenario: its schedule id, trace, final state and verdict."""

    schedule_id: str
    steps: list[StepRecord]
    initial: Snapshot
    final: Snapshot
    actors: dict[str, ActorOutcome]
    aliases: dict[str, str]
    outcome: str = OK
    message: str = ""
    seconds: float = 0.0
    read_real_time: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.outcome != OK

    @property
    def states(self) -> list[Snapshot]:
        """The state before the first step and after each step (in stress mode too, in the order the steps ended)."""
        if self.steps:
            return [self.initial] + [s.state for s in self.steps]
        return [self.initial, self.final]

    def result(self, actor: str) -> Any:
        """What ``actor`` returned (``None`` if it raised, hung or was stopped)."""
        return self.actors[actor].result

    def trace(self, full: bool = False) -> str:
        """The run as readable text: each step, its reply, and the keys it changed.

        Keys are printed without the target's prefix; ``full=True`` prints whole
        commands and replies instead of cutting them at 90 and 60 characters.
        """
        legend = ", ".join(f"{a} = {n}" for n, a in self.aliases.items())
        verdict = "OK" if not self.failed else f"{self.outcome.upper()}: {self.message}"
        short = self.initial.short
        lines = [f"schedule {self.schedule_id or '(free-running)'}   ({legend})", f"  -> {verdict}"]
        if self.read_real_time:
            lines.append(f"  ! read the real time ({'; '.join(self.read_real_time)}): a replay may differ; "
                         "pin it with Explorer(clock=StepClock(...))")
        lines.append("  start:")
        lines += [f"      {short(k)} = {format_value(v)}" for k, v in self.initial.items()] or ["      (empty)"]
        width = max((len(n) for n in self.actors), default=6)
        for rec in self.steps:
            label = rec.full_label or rec.label if full else rec.label
            reply = rec.full_reply or rec.reply if full else rec.reply
            lines.append(f"  {rec.index:>2}. {rec.actor:<{width}}  {label}  -> {reply}")
            if not rec.changed:
                lines.append("        (no change)")
            for key in rec.changed:
                lines.append(f"        {short(key)} = {format_value(dict.get(rec.state, key))}")
        if not self.steps:
            lines.append("  end:")
            lines += [f"      {short(k)} = {format_value(v)}" for k, v in self.final.items()]
        lines.append("  actors: " + "; ".join(a.describe() for a in self.actors.values()))
        return "\n".join(lines)

    def plot(self, **kwargs: Any) -> Any:
        """A timeline figure of this run (see :func:`labkit.figures.race.plot_timeline`)."""
        from ..figures.race import plot_timeline

        return plot_timeline(self, **kwargs)

    def __str__(self) -> str:
        return self.trace()

    def __repr__(self) -> str:
        return f"<RunResult {self.schedule_id or 'free'} {self.outcome}{': ' + self.message if self.message else ''}>"


@dataclass
class ExploreResult:
    """Every schedule the explorer ran, how each ended, and what was cut."""

    name: str
    runs: list[RunResult]
    aliases: dict[str, str]
    cut: int
    complete: bool
    seconds: float
    seconds_to_first_failure: Optional[float]
    bounds: dict[str, Any] = field(default_factory=dict)
    mismatches: list["Mismatch"] = field(default_factory=list)

    @property
    def schedules(self) -> int:
        return len(self.runs)

    @property
    def failing(self) -> list[RunResult]:
        return [r for r in self.runs if r.failed]

    @property
    def first_failure(self) -> Optional[RunResult]:
        return next((r for r in self.runs if r.failed), None)

    @property
    def schedules_per_second(self) -> float:
        return self.schedules / self.seconds if self.seconds > 0 else float("inf")

    def summary(self) -> str:
        fails = self.failing
        head = (f"{self.name}: {self.schedules} schedules run, {len(fails)} failing"
                f" in {self.seconds:.2f} s ({self.schedules_per_second:.0f}/s)")
        if self.cut:
            head += f"; {self.cut} branches cut by the bounds {self.bounds}"
        elif self.complete:
            head += "; every schedule explored"
        if self.mismatches:
            head += (f"\n{len(self.mismatches)} schedule(s) could not be replayed: the scenario does not run the "
                     f"same way twice. First:\n{self.mismatches[0]}")
        if not fails:
            return head + "\nNo schedule broke an invariant."
        first = fails[0]
        return (f"{head}\nFirst failing schedule (found after {self.seconds_to_first_failure:.3f} s), "
                f"replay with explorer.replay({first.schedule_id!r}):\n{first.trace()}")

    def plot(self, **kwargs: Any) -> Any:
        """A figure of all schedules and their outcomes (see :func:`labkit.figures.race.plot_schedules`)."""
        from ..figures.race import plot_schedules

        return plot_schedules(self, **kwargs)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<ExploreResult {self.name}: {self.schedules} schedules, {len(self.failing)} failing, "
                f"cut {self.cut}>")

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())


@dataclass
class Mismatch:
    """A schedule the explorer could not follow: the scenario ran differently from the run it branched from."""

    schedule_id: str
    step: int
    message: str
    then: RunResult
    now: RunResult

    def diverged_at(self) -> Optional[int]:
        """The first step (1-based) whose actor or command differs between the two runs."""
        for i, (a, b) in enumerate(zip(self.then.steps, self.now.steps), start=1):
            if (a.actor, a.full_label or a.label) != (b.actor, b.full_label or b.label):
                return i
        return None

    def __str__(self) -> str:
        at = self.diverged_at()
        where = (f"the runs diverged at step {at}: first {self.then.steps[at - 1].actor} "
                 f"{self.then.steps[at - 1].label!r}, now {self.now.steps[at - 1].actor} {self.now.steps[at - 1].label!r}"
                 if at else "every step before it matched, so something outside Redis changed which actors could step")
        return (f"schedule {self.schedule_id} at step {self.step}: {self.message}; {where} (does an actor read the "
                "time, a counter or random numbers?)\n-- the run it branched from --\n"
                f"{self.then.trace()}\n-- this run --\n{self.now.trace()}")


@dataclass
class StressResult:
    """Random testing for comparison: how often the race showed up, and how soon, over several seeds."""

    name: str
    runs: int
    failures: int
    runs_to_first_failure: Optional[float]
    seconds_to_first_failure: Optional[float]
    seconds: float
    jitter: float
    seed: int
    first_failure: Optional[RunResult] = None
    start_spread: float = 0.0
    seeds: list[int] = field(default_factory=list)
    first_failure_per_seed: list[Optional[int]] = field(default_factory=list)
    scheduled: bool = False

    @property
    def failure_rate(self) -> float:
        """Failing runs / runs."""
        return self.failures / self.runs if self.runs else 0.0

    def summary(self) -> str:
        parts = []
        if self.scheduled:
            parts.append("random schedules drawn from the seed (reproducible)")
        if self.start_spread:
            parts.append(f"random start offsets up to {self.start_spread * 1000:g} ms")
        if self.jitter:
            parts.append(f"random delays up to {self.jitter * 1000:g} ms before each command")
        how = "with " + " and ".join(parts) if parts else "with no added delays"
        found = [f for f in self.first_failure_per_seed if f is not None]
        n = len(self.seeds) or 1
        if self.runs_to_first_failure is None:
            first = f"never failed ({n} seed{'s' if n > 1 else ''})"
        elif n > 1:
            first = (f"runs to first failure: median {self.runs_to_first_failure:g} over {n} seeds "
                     f"({len(found)} of {n} failed at all; per seed {self.first_failure_per_seed})")
        else:
            first = f"first failure at run {self.runs_to_first_failure:g} ({self.seconds_to_first_failure:.3f} s)"
        note = "" if self.scheduled else (" The OS decides the interleaving here, so the same seed can give "
                                          "different counts; scheduled=True makes a seed reproducible.")
        return (f"{self.name} stress {how}: {self.runs} runs in {self.seconds:.2f} s, "
                f"{self.failures} failing ({self.failure_rate:.1%}); {first}.{note}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())


# --- one controlled run ----------------------------------------------------------------

_LIST_BLOCKERS = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"})


@dataclass
class _Clients:
    """The clients of one explore/replay/stress call: stepped async and sync, and an unstepped admin."""

    aio: aredis.Redis
    sync: redis.Redis
    admin: aredis.Redis
    admin_sync: redis.Redis

    async def close(self) -> None:
        for client in (self.aio, self.admin):
            try:
                await client.aclose()
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        for sync_client in (self.sync, self.admin_sync):
            sync_client.close()


class _Tracker:
    """The hook ``setup`` runs under: it records the keys it names and never pauses."""

    def __init__(self, keys: _Keys, clock: Optional[StepClock]) -> None:
        self.keys = keys
        self.clock = clock

    async def before(self, kind: str, commands: Sequence[Command]) -> None:
        self.keys.track(commands)

    def before_blocking(self, kind: str, commands: Sequence[Command]) -> None:
        self.keys.track(commands)

    def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        return None

    def after_blocking(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        return None

    def fake_reply(self, commands: Sequence[Command]) -> Any:
        return NOT_FAKED

    def read_clock(self) -> Optional[float]:
        return self.clock.at(0) if self.clock else None


class _Slot:
    """One actor inside one controlled run; it is also the actor's step hook."""

    def __init__(self, run: "_Run", name: str, fn: ActorFn, args: tuple) -> None:
        self.run = run
        self.name = name
        self.fn = fn
        self.args = args
        self.kind = run.ex._kinds.get(name)  # "async", "sync", or None until the first run tells
        self.status = _STARTING
        self.label = self.full_label = ""
        self.gate: Optional[asyncio.Future[None]] = None
        self.thread_gate = threading.Event()
        self.thread: Optional[threading.Thread] = None
        self.thread_done = threading.Event()
        self.abandon = False
        self.loop = asyncio.get_running_loop()
        self.settled = asyncio.Event()
        self.task: Optional[asyncio.Task[None]] = None
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.reply = self.full_reply = ""
        self.real_time = False
        self.steps = 0
        self.free_sha: Optional[str] = None
        self.note = ""
        self.blocked_on: Optional[tuple[str, list[str]]] = None  # (command, keys) of a blocking command
        self.block_baseline: Optional[dict[str, Any]] = None
        self.ready = True

    # -- the hook ------------------------------------------------------------------------
    def _arrive(self, kind: str, commands: Sequence[Command]) -> bool:
        if self.free_sha is not None and is_evalsha(commands, self.free_sha):
            self.free_sha = None  # redis-py resending a script after NOSCRIPT: same step
            return False
        prefix = self.run.prefix
        if self.status == _WAITING:
            self.run.misuse = (
                f"actor {self.name!r} sent {describe_step(kind, commands, prefix)!r} while its "
                f"{self.label!r} was still waiting: two commands at once from one actor (asyncio.gather or "
                "create_task inside it). The explorer steps one command per actor at a time, so split the "
                f"concurrent parts into actors of their own, e.g. actors={{'{self.name}-a': part_a, "
                f"'{self.name}-b': part_b}}, or await them one after the other.")
            raise ExplorerError(self.run.misuse)
        self.run.keys.track(commands)
        self.label = describe_step(kind, commands, prefix)
        self.full_label = describe_step(kind, commands, prefix, limit=None)
        self.real_time = False
        table = self.run.keys.table
        if kind == "command" and table is not None and table.blocking(commands[0]):
            self.blocked_on = (table.name(commands[0]), table.keys(commands[0]))
            self.block_baseline = None
        else:
            self.blocked_on = None
        return True

    async def before(self, kind: str, commands: Sequence[Command]) -> None:
        if not self._arrive(kind, commands):
            return
        self.gate = self.loop.create_future()
        self.status = _WAITING
        self.settled.set()
        await self.gate

    def before_blocking(self, kind: str, commands: Sequence[Command]) -> None:
        if self.abandon:
            raise _Abandon()
        self.kind = "sync"  # a stepped command from a thread: this is a sync actor
        if not self._arrive(kind, commands):
            return
        self.thread_gate = threading.Event()
        self.status = _WAITING
        self.loop.call_soon_threadsafe(self.settled.set)
        self.thread_gate.wait()
        if self.abandon:
            raise _Abandon()

    def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        self.free_sha = noscript_sha(commands, error)
        if error is not None:
            self.reply = self.full_reply = f"error {type(error).__name__}: {error}"
        elif commands and str(commands[0][0]).upper() == "STEP":
            self.reply = self.full_reply = "ok"
        else:
            self.reply, self.full_reply = _short(reply), _short(reply, None)
        return None

    after_blocking = after

    def fake_reply(self, commands: Sequence[Command]) -> Any:
        if len(commands) == 1 and str(commands[0][0]).upper() == "TIME":
            now = self.read_clock("Redis TIME")
            if now is not None:
                return (int(now), int(round((now % 1) * 1e6)))
        return NOT_FAKED

    def read_clock(self, what: str = "time.time()") -> Optional[float]:
        clock = self.run.ex.clock
        if clock is not None:
            return clock.at(len(self.run.records))
        self.real_time = True
        self.run.note_real_time(self.name, what)
        return None

    # -- running -------------------------------------------------------------------------
    def release(self) -> None:
        self.settled.clear()
        self.status = _RUNNING
        self.steps += 1
        if self.kind == "sync":
            self.thread_gate.set()
        else:
            assert self.gate is not None
            self.gate.set_result(None)

    async def main(self, client: aredis.Redis) -> None:
        set_hook(self)
        try:
            value = self.fn(client, *self.args)
            self.result = await value if inspect.isawaitable(value) else value
            self.status = _DONE
        except asyncio.CancelledError:
            if self.status not in (_HUNG, _BLOCKED):
                self.status = _STOPPED
            raise
        except Exception as exc:  # noqa: BLE001 - an actor's crash is a finding, not our crash
            self.error = exc
            self.status = _RAISED
        finally:
            self.settled.set()

    def thread_main(self, client: redis.Redis) -> None:
        set_hook(self)
        try:
            value = self.fn(client, *self.args)
            if inspect.isawaitable(value):
                if self.kind is None:  # a lambda that returns a coroutine: an async actor after all
                    getattr(value, "close", lambda: None)()
                    self.kind = "async"
                    return
                raise ExplorerError(f"actor {self.name!r} ran as a plain function but returned {value!r}")
            self.kind = "sync"
            self.result = value
            self.status = _DONE
        except _Abandon:
            if self.status not in (_HUNG, _BLOCKED):
                self.status = _STOPPED
        except Exception as exc:  # noqa: BLE001
            self.kind = self.kind or "sync"
            self.error = exc
            self.status = _RAISED
        finally:
            self.thread_done.set()
            try:
                self.loop.call_soon_threadsafe(self.settled.set)
            except RuntimeError:  # the loop closed while this abandoned thread was still busy
                pass

    def launch(self, clients: _Clients) -> None:
        if self.kind == "async":
            self.task = asyncio.ensure_future(self.main(clients.aio))
        else:
            self.thread = threading.Thread(target=self.thread_main, args=(clients.sync,), daemon=True,
                                           name=f"explorer-actor-{self.name}")
            self.thread.start()

    def stop(self) -> None:
        """Make a waiting thread unwind at its gate."""
        self.abandon = True
        self.thread_gate.set()

    def check_ready(self, state: Snapshot) -> None:
        if self.status != _WAITING or self.blocked_on is None:
            self.ready = True
            return
        command, keys = self.blocked_on
        values = {k: dict.get(state, k) for k in keys}
        if self.block_baseline is None:
            self.block_baseline = values
            if command in _LIST_BLOCKERS or any(values.values()):
                self.ready = any(bool(v) for v in values.values())
                return
        self.ready = values != self.block_baseline or (command in _LIST_BLOCKERS and any(values.values()))


class _Run:
    """One run: reset, set up, start the actors, then step them as told."""

    def __init__(self, explorer: "Explorer", clients: _Clients) -> None:
        self.ex = explorer
        self.clients = clients
        self.keys = explorer._keys
        self.prefix = explorer.target.prefix
        self.slots = {name: _Slot(self, name, fn, args) for name, (fn, args) in explorer.actors.items()}
        self.records: list[StepRecord] = []
        self.choices: list[str] = []
        self.initial: Snapshot = Snapshot()
        self.state: Snapshot = Snapshot()
        self.stopped: Optional[tuple[str, str]] = None  # (outcome, message)
        self.misuse = ""
        self.real_time: list[str] = []
        self.began = time.perf_counter()

    def note_real_time(self, actor: str, what: str) -> None:
        entry = f"{actor} via {what} at step {len(self.records) + 1}"
        if entry not in self.real_time:
            self.real_time.append(entry)

    async def start(self) -> None:
        await self.keys.load()
        await self.keys.reset(self.clients.admin)
        await self.ex._run_setup(self.clients)
        for slot in self.slots.values():  # one at a time, so start-up is deterministic too
            slot.launch(self.clients)
            await self._settle(slot, "before its first step")
            if slot.kind == "async" and slot.task is None:  # the probe found an async actor
                self.ex._kinds[slot.name] = "async"
                slot.settled.clear()
                slot.launch(self.clients)
                await self._settle(slot, "before its first step")
            if slot.kind:
                self.ex._kinds.setdefault(slot.name, slot.kind)
            if self.stopped:
                break
        self.initial = self.state = await self.keys.snapshot(self.clients.admin)
        self._check_blocked()

    async def _settle(self, slot: _Slot, when: str) -> None:
        try:
            await asyncio.wait_for(slot.settled.wait(), self.ex.step_timeout)
        except asyncio.TimeoutError:
            slot.status = _HUNG
            if slot.task is not None:
                slot.note = (f"did not reach its next step or finish within {self.ex.step_timeout:g} s {when}; "
                             "cancelled (is it waiting for something that never comes?)")
                slot.task.cancel()
            else:
                slot.note = (f"did not reach its next Redis command or finish within {self.ex.step_timeout:g} s "
                             f"{when}: its thread is blocked outside Redis (a lock, a sleep, I/O?); a thread "
                             "cannot be cancelled, so it is left to finish on its own")
            self.stopped = (HUNG, f"actor {slot.name!r} {slot.note}")

    def _check_blocked(self) -> None:
        for slot in self.slots.values():
            slot.check_ready(self.state)

    def enabled(self) -> list[str]:
        """Actors waiting at a step point that can take it now, in declaration order."""
        if self.stopped or self.misuse:
            return []
        return [n for n, s in self.slots.items() if s.status == _WAITING and s.ready]

    def next_labels(self) -> dict[str, str]:
        return {n: self.slots[n].label for n in self.enabled()}

    async def advance(self, name: str) -> StepRecord:
        slot = self.slots.get(name)
        if slot is None:
            raise ExplorerError(f"no actor called {name!r}; actors are {list(self.slots)}")
        if name not in self.enabled():
            why = "blocked until its key changes" if slot.status == _WAITING else f"it is {slot.status}"
            raise ExplorerError(f"actor {name!r} cannot step now ({why}); enabled: {self.enabled()}")
        label, full_label = slot.label, slot.full_label
        self.choices.append(name)
        slot.release()
        await self._settle(slot, f"after step {len(self.records) + 1} ({label})")
        after = await self.keys.snapshot(self.clients.admin)
        hung = slot.status == _HUNG
        record = StepRecord(len(self.records) + 1, name, label, "(no reply: hung)" if hung else slot.reply,
                            after, _changed(self.state, after), slot.full_reply, full_label, slot.real_time)
        self.state = after
        self.records.append(record)
        self._check_blocked()
        return record

    async def finish(self, schedule_id: str) -> RunResult:
        for slot in self.slots.values():
            if slot.status == _WAITING and not slot.ready and not self.stopped and slot.blocked_on:
                slot.status = _BLOCKED
                slot.note = f"still waiting in {slot.label} when nothing else could step"
        tasks = [s.task for s in self.slots.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        for slot in self.slots.values():
            slot.stop()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.ex.step_timeout)
            for slot in self.slots.values():
                if slot.task in stuck:
                    slot.note = "ignored cancellation; abandoned"
        deadline = time.perf_counter() + self.ex.step_timeout
        for slot in self.slots.values():
            if slot.thread is not None and slot.status != _HUNG:
                while not slot.thread_done.is_set() and time.perf_counter() < deadline:
                    await asyncio.sleep(0.001)
        final = await self.keys.snapshot(self.clients.admin)
        actors = {n: ActorOutcome(n, s.status, s.result, s.error, s.steps, s.note) for n, s in self.slots.items()}
        run = RunResult(schedule_id, list(self.records), self.initial, final, actors, dict(self.ex.aliases),
                        seconds=time.perf_counter() - self.began, read_real_time=list(self.real_time))
        self.ex._judge(run, self.stopped)
        return run


class Session:
    """A run stepped by hand: the engine behind the "be the scheduler" widget."""

    def __init__(self, explorer: "Explorer", run: _Run, clients: _Clients, clock: intercept_time) -> None:
        self._explorer = explorer
        self._run = run
        self._clients = clients
        self._clock = clock
        self.result: Optional[RunResult] = None

    @property
    def actors(self) -> list[str]:
        return list(self._run.slots)

    def enabled(self) -> dict[str, str]:
        """Actors that can step now, with the step each would take next."""
        return {} if self.result else self._run.next_labels()

    def status(self, actor: str) -> str:
        slot = self._run.slots[actor]
        return "blocked" if slot.status == _WAITING and not slot.ready else slot.status

    @property
    def state(self) -> Snapshot:
        return self._run.state

    @property
    def steps(self) -> list[StepRecord]:
        return list(self._run.records)

    @property
    def schedule_id(self) -> str:
        return "".join(self._explorer.aliases[n] for n in self._run.choices)

    @property
    def finished(self) -> bool:
        return self.result is not None or not self._run.enabled()

    async def step(self, actor: str) -> StepRecord:
        """Let ``actor`` run its next step; returns what it did and the state after."""
        if self.result is not None:
            raise ExplorerError("this session has finished; start a new one")
        if len(self._run.records) >= self._explorer.max_steps:
            raise ExplorerError(f"this run hit the step bound ({self._explorer.max_steps} steps)")
        return await self._run.advance(actor)

    async def finish(self) -> RunResult:
        """Stop the remaining actors, judge the run, release the connections."""
        if self.result is None:
            try:
                self.result = await self._run.finish(self.schedule_id)
            finally:
                await self._explorer._done(self._clients)
                self._clock.__exit__(None, None, None)
        return self.result


def _aliases(names: Sequence[str]) -> dict[str, str]:
    """One letter per actor, never shared: the first letter of its name not already taken, else a free one.

    ``worker, reconciler`` -> ``W, R``; ``reconciler, replica`` -> ``R, E``; the trace prints the legend.
    """
    taken: dict[str, str] = {}
    for name in names:
        letter = next((c.upper() for c in name if c.isalnum() and c.upper() not in taken.values()), None)
        if letter is None:
            letter = next(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in taken.values())
        taken[name] = letter
    return taken


def _preemptions(choices: Sequence[str], enabled: Sequence[Sequence[str]]) -> int:
    """Switches away from an actor that could have kept going."""
    return sum(1 for i in range(1, len(choices))
               if choices[i] != choices[i - 1] and choices[i - 1] in enabled[i])


def _normalise_actor(name: Any, spec: Any) -> tuple[ActorFn, tuple]:
    if not isinstance(name, str) or not name.strip():
        raise ExplorerError(f"actor names must be non-empty strings, got {name!r}")
    fn, args = (spec[0], tuple(spec[1:])) if isinstance(spec, tuple) and spec else (spec, ())
    if not callable(fn):
        raise ExplorerError(f"actor {name!r} must be a function of (client, ...) - async def or def - or a tuple "
                            f"(function, arg, ...), got {spec!r}")
    return fn, args


def _kind_of(fn: ActorFn) -> Optional[str]:
    """'async' for a coroutine function (also through functools.partial); else None: on the first run it is
    called in a thread with the sync client, and if it returns a coroutine (a lambda wrapping an async
    function) it is an async actor after all."""
    target = fn.func if isinstance(fn, functools.partial) else fn
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(getattr(target, "__call__", None)):
        return "async"
    return None


class Explorer:
    """Enumerate, replay and stress the interleavings of a few actors on real Redis.

    ``actors`` maps a name to an actor: ``async def actor(client, *args)``,
    ``def actor(client, *args)`` (run in a thread with a sync client), a
    ``functools.partial``, or a tuple ``(actor, arg, ...)``. ``client_options``
    are passed to the clients the actors get (``decode_responses`` defaults to
    True). ``setup(client)`` (async or not) writes the starting state after the
    keys the scenario writes have been deleted. Each invariant takes the
    :class:`RunResult` and returns ``None``/``True`` when it holds, or a message
    (or ``False``, or raises ``AssertionError``) when it does not. ``clock``
    pins what actors read as "now" (a :class:`StepClock`, or a start time).
    """

    def __init__(
        self,
        target: RedisTarget,
        actors: Mapping[str, ActorSpec],
        *,
        setup: Optional[Setup] = None,
        invariants: Invariant | Sequence[Invariant] = (),
        name: str = "scenario",
        step_timeout: float = 1.0,
        max_steps: int = 200,
        errors_fail: bool = True,
        client_options: Optional[Mapping[str, Any]] = None,
        clock: Optional[StepClock | float] = None,
    ) -> None:
        if not isinstance(target, RedisTarget):
            raise ExplorerError(f"target must be a RedisTarget (labkit.redis.target.redis_target()), got {target!r}")
        if not isinstance(actors, Mapping) or not actors:
            raise ExplorerError("actors must be a non-empty dict of name -> actor function (or (function, args...))")
        if len(actors) > 8:
            raise ExplorerError(f"{len(actors)} actors is too many to enumerate; keep scenarios to 8 or fewer")
        normalised = {n: _normalise_actor(n, spec) for n, spec in actors.items()}
        if setup is not None and not callable(setup):
            raise ExplorerError(f"setup must be a function of (client), async or not, got {setup!r}")
        invariants = [invariants] if callable(invariants) else list(invariants)
        for inv in invariants:
            if not callable(inv):
                raise ExplorerError(f"each invariant must be a function of (run), got {inv!r}")
        if not (isinstance(step_timeout, (int, float)) and step_timeout > 0):
            raise ExplorerError(f"step_timeout must be a positive number of seconds, got {step_timeout!r}")
        if not (isinstance(max_steps, int) and max_steps > 0):
            raise ExplorerError(f"max_steps must be a positive int, got {max_steps!r}")
        if client_options is not None and not isinstance(client_options, Mapping):
            raise ExplorerError(f"client_options must be a dict of redis client options, got {client_options!r}")
        if clock is not None and not isinstance(clock, StepClock):
            if not isinstance(clock, (int, float)) or isinstance(clock, bool):
                raise ExplorerError(f"clock must be a StepClock or a start time in seconds, got {clock!r}")
            clock = StepClock(float(clock))
        self.target = target
        self.actors = normalised
        self.aliases = _aliases(list(self.actors))
        self.setup = setup
        self.invariants = invariants
        self.name = name
        self.step_timeout = float(step_timeout)
        self.max_steps = max_steps
        self.errors_fail = errors_fail
        self.client_options = {"decode_responses": True, **dict(client_options or {})}
        self.clock = clock
        self._keys = _Keys(target)
        self._kinds: dict[str, str] = {n: k for n, (fn, _) in normalised.items() if (k := _kind_of(fn))}

    # -- plumbing ------------------------------------------------------------------
    def _clients(self) -> _Clients:
        url = self.target.url
        try:
            return _Clients(SteppedRedis.from_url(url, **self.client_options),
                            SyncSteppedRedis.from_url(url, **self.client_options),
                            aredis.Redis.from_url(url), redis.Redis.from_url(url))
        except TypeError as exc:
            raise ExplorerError(f"client_options {self.client_options} are not redis client options: {exc}") from exc

    async def _done(self, clients: _Clients) -> None:
        """Record the keys written (so a later explorer on this target resets them too), close the clients."""
        try:
            if self._keys.written:
                await clients.admin.sadd(self._keys.registry, *self._keys.written)
        finally:
            await clients.close()

    async def _run_setup(self, clients: _Clients) -> None:
        if self.setup is None:
            return
        tracker = _Tracker(self._keys, self.clock)
        setup = self.setup

        def sync_setup() -> None:
            set_hook(tracker)
            setup(clients.sync)

        async def async_setup() -> None:
            set_hook(tracker)  # inside its own task: the caller's context is untouched
            value = setup(clients.aio)
            if inspect.isawaitable(value):
                await value

        target = setup.func if isinstance(setup, functools.partial) else setup
        if inspect.iscoroutinefunction(target):
            await asyncio.ensure_future(async_setup())
        else:
            await asyncio.to_thread(sync_setup)

    def _judge(self, run: RunResult, stopped: Optional[tuple[str, str]]) -> None:
        if stopped is not None:
            run.outcome, run.message = stopped
            return
        raised = [a for a in run.actors.values() if a.status == _RAISED]
        if raised and self.errors_fail:
            a = raised[0]
            run.outcome = ERROR
            run.message = f"actor {a.name!r} raised {type(a.error).__name__}: {a.error}"
            return
        for inv in self.invariants:
            try:
                verdict = inv(run)
            except AssertionError as exc:
                verdict = str(exc) or f"{getattr(inv, '__name__', 'invariant')} failed"
            if verdict is None or verdict is True:
                continue
            run.outcome = VIOLATION
            run.message = verdict if isinstance(verdict, str) else f"{getattr(inv, '__name__', 'invariant')} failed"
            return

    def parse_schedule(self, schedule_id: str) -> list[str]:
        """Actor names from a schedule id such as ``"RWWRRR"`` (spaces and dots are ignored)."""
        if not isinstance(schedule_id, str):
            raise ScheduleMismatch(f"a schedule id is a string like 'RWWR', got {schedule_id!r}")
        by_alias = {a: n for n, a in self.aliases.items()}
        letters = [c for c in schedule_id if c not in " .-,"]
        unknown = sorted({c for c in letters if c not in by_alias})
        if unknown or not letters:
            legend = ", ".join(f"{a} = {n}" for n, a in self.aliases.items())
            raise ScheduleMismatch(f"schedule id {schedule_id!r} is not made of this scenario's actors ({legend})")
        return [by_alias[c] for c in letters]

    async def _drive(self, clients: _Clients, prefix: Sequence[str], strict: bool,
                     choose: Optional[Callable[[list[str]], str]] = None,
                     ) -> tuple[RunResult, list[tuple[tuple[str, ...], str]], str]:
        run = _Run(self, clients)
        decisions: list[tuple[tuple[str, ...], str]] = []
        mismatch = ""
        try:
            await run.start()
            while True:
                enabled = run.enabled()
                if not enabled:
                    break
                i = len(decisions)
                if i >= self.max_steps:
                    run.stopped = (BOUND, f"the run did not finish within {self.max_steps} steps "
                                          "(a retry loop that never succeeds?)")
                    break
                if i < len(prefix):
                    choice = prefix[i]
                    if choice not in enabled:
                        mismatch = (f"step {i + 1} of the schedule is {choice!r}, but only "
                                    f"{enabled} can step there")
                        break
                elif strict:
                    mismatch = f"the schedule id ends after {len(prefix)} steps, but {enabled} can still step"
                    break
                else:
                    choice = choose(enabled) if choose else enabled[0]
                decisions.append((tuple(enabled), choice))
                await run.advance(choice)
        finally:
            ident = "".join(self.aliases[c] for _, c in decisions)
            result = await run.finish(ident)
        if run.misuse:
            raise ExplorerError(f"scenario {self.name!r} cannot be explored as written: {run.misuse}")
        if strict and not mismatch and len(decisions) < len(prefix) and result.outcome not in (HUNG, BOUND):
            mismatch = f"the run ended after {len(decisions)} steps, before the schedule id's {len(prefix)}"
        return result, decisions, mismatch

    # -- public API --------------------------------------------------------------------
    async def explore(
        self,
        *,
        max_schedules: int = 5000,
        preemption_bound: Optional[int] = None,
        stop_at_first_failure: bool = False,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> ExploreResult:
        """Run every schedule (depth-first) up to the bounds; judge each one.

        A branch the scenario does not follow when re-run (it behaves differently
        the second time) is kept in ``result.mismatches`` with both traces;
        every other result is kept too.
        """
        if not (isinstance(max_schedules, int) and max_schedules > 0):
            raise ExplorerError(f"max_schedules must be a positive int, got {max_schedules!r}")
        if preemption_bound is not None and not (isinstance(preemption_bound, int) and preemption_bound >= 0):
            raise ExplorerError(f"preemption_bound must be None or an int >= 0, got {preemption_bound!r}")
        clients = self._clients()
        runs: list[RunResult] = []
        mismatches: list[Mismatch] = []
        stack: list[tuple[tuple[str, ...], Optional[RunResult]]] = [((), None)]
        cut = 0
        began = time.perf_counter()
        first_failure_at: Optional[float] = None
        stopped_early = False
        try:
            with intercept_time():
                while stack:
                    if len(runs) + len(mismatches) >= max_schedules:
                        cut += len(stack)
                        break
                    prefix, parent = stack.pop()
                    run, decisions, mismatch = await self._drive(clients, prefix, strict=False)
                    if mismatch:
                        ident = "".join(self.aliases[c] for c in prefix)
                        assert parent is not None
                        mismatches.append(Mismatch(ident, len(decisions) + 1, mismatch, parent, run))
                        continue
                    runs.append(run)
                    if progress is not None:
                        progress(len(runs), sum(r.failed for r in runs))
                    if run.failed and first_failure_at is None:
                        first_failure_at = time.perf_counter() - began
                        if stop_at_first_failure:
                            stopped_early = True
                            break
                    chosen = [c for _, c in decisions]
                    enabled_sets = [e for e, _ in decisions]
                    for i in range(len(prefix), len(decisions)):
                        enabled, pick = decisions[i]
                        for alt in reversed(enabled):
                            if alt == pick:
                                continue
                            branch = tuple(chosen[:i]) + (alt,)
                            if preemption_bound is not None and \
                                    _preemptions(branch, enabled_sets) > preemption_bound:
                                cut += 1
                                continue
                            stack.append((branch, run))
        finally:
            await self._done(clients)
        return ExploreResult(
            self.name, runs, dict(self.aliases), cut,
            complete=not stack and not stopped_early and cut == 0 and not mismatches,
            seconds=time.perf_counter() - began, seconds_to_first_failure=first_failure_at,
            bounds={"max_schedules": max_schedules, "preemption_bound": preemption_bound,
                    "max_steps": self.max_steps}, mismatches=mismatches)

    async def replay(self, schedule_id: str) -> RunResult:
        """Run exactly the schedule ``schedule_id`` again and return its trace."""
        choices = self.parse_schedule(schedule_id)
        clients = self._clients()
        try:
            with intercept_time():
                run, _, mismatch = await self._drive(clients, choices, strict=True)
        finally:
            await self._done(clients)
        if mismatch:
            raise ScheduleMismatch(f"schedule does not fit scenario {self.name!r}: {mismatch}")
        return run

    async def session(self) -> Session:
        """Start a run that you step by hand with ``await session.step(actor)``."""
        clients = self._clients()
        clock = intercept_time().__enter__()
        run = _Run(self, clients)
        try:
            await run.start()
        except BaseException:
            await run.finish("")
            await self._done(clients)
            clock.__exit__(None, None, None)
            raise
        return Session(self, run, clients, clock)

    async def cleanup(self) -> int:
        """Delete every key this scenario (or an earlier one on the same target) wrote; returns how many."""
        await self._keys.load()
        admin = aredis.Redis.from_url(self.target.url)
        try:
            n = int(await admin.eval(_RESET, 1 + len(self._keys.written), self._keys.registry, *self._keys.written))
            await admin.delete(self._keys.registry)
            return n
        finally:
            await admin.aclose()

    async def stress(
        self,
        runs: int = 1000,
        *,
        jitter: float = 0.0,
        start_spread: float = 0.0,
        seed: int = 0,
        seeds: Optional[int | Sequence[int]] = None,
        stop_at_first_failure: bool = False,
        time_budget: Optional[float] = None,
        run_timeout: Optional[float] = None,
        scheduled: bool = False,
    ) -> StressResult:
        """Run all actors at once, ``runs`` times per seed, the way one would hunt a race without the explorer.

        ``jitter`` adds a random sleep (0..jitter s) before each command;
        ``start_spread`` starts each actor after a random 0..start_spread s, as a
        reconciler sweep meets a worker finishing at an arbitrary moment.
        ``seeds`` (a count, or a list) repeats the hunt per seed: the result has
        the failure rate over every run and runs-to-first-failure as a median
        over seeds. Every step's state is recorded, so history invariants hold
        their meaning. The OS interleaves free-running actors, so only the delays
        come from the seed; ``scheduled=True`` instead draws each run's schedule
        from the seed and runs it under the explorer's control: reproducible,
        and a failing run has a schedule id to replay.
        """
        if not (isinstance(runs, int) and runs > 0):
            raise ExplorerError(f"runs must be a positive int, got {runs!r}")
        if not (isinstance(jitter, (int, float)) and 0 <= jitter <= 1):
            raise ExplorerError(f"jitter is a delay in seconds from 0 to 1, got {jitter!r}")
        if not (isinstance(start_spread, (int, float)) and 0 <= start_spread <= 1):
            raise ExplorerError(f"start_spread is a delay in seconds from 0 to 1, got {start_spread!r}")
        if seeds is None:
            seed_list = [seed]
        elif isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0:
            seed_list = [seed + i for i in range(seeds)]
        elif isinstance(seeds, Sequence) and seeds and all(isinstance(s, int) for s in seeds):
            seed_list = list(seeds)
        else:
            raise ExplorerError(f"seeds is a count (int > 0) or a list of ints, got {seeds!r}")
        limit = run_timeout if run_timeout is not None else self.step_timeout * 5
        clients = self._clients()
        began = time.perf_counter()
        total = failures = 0
        first: Optional[RunResult] = None
        per_seed: list[Optional[int]] = []
        per_seed_seconds: list[float] = []
        try:
            with intercept_time():
                await self._keys.load()
                for s in seed_list:
                    rng = random.Random(s)
                    seed_began = time.perf_counter()
                    found: Optional[int] = None
                    for i in range(runs):
                        if time_budget is not None and time.perf_counter() - seed_began > time_budget:
                            break
                        if scheduled:
                            pick = random.Random(f"{s}:{i}")
                            run, _, _ = await self._drive(clients, (), False, lambda e, r=pick: r.choice(e))
                        else:
                            run = await self._free_run(clients, rng, float(jitter), float(start_spread), limit)
                        total += 1
                        if run.failed:
                            failures += 1
                            if found is None:
                                found = i + 1
                                per_seed_seconds.append(time.perf_counter() - seed_began)
                                first = first or run
                                if stop_at_first_failure:
                                    break
                    per_seed.append(found)
        finally:
            await self._done(clients)
        hits = [f for f in per_seed if f is not None]
        return StressResult(self.name, total, failures, statistics.median(hits) if hits else None,
                            statistics.median(per_seed_seconds) if per_seed_seconds else None,
                            time.perf_counter() - began, float(jitter), seed_list[0], first, float(start_spread),
                            seed_list, per_seed, scheduled)

    async def _free_run(self, clients: _Clients, rng: random.Random, jitter: float, spread: float,
                        limit: float) -> RunResult:
        began = time.perf_counter()
        keys = self._keys
        await keys.reset(clients.admin)
        await self._run_setup(clients)
        initial = await keys.snapshot(clients.admin)
        outcomes = {n: ActorOutcome(n, _STARTING) for n in self.actors}
        records: list[StepRecord] = []
        prefix = self.target.prefix
        delays = {n: rng.uniform(0, spread) if spread > 0 else 0.0 for n in self.actors}
        waits = [rng.uniform(0, jitter) if jitter > 0 else 0.0 for _ in range(self.max_steps * len(self.actors))]
        abandon = threading.Event()

        class _Recorder:
            """Free-running hook: optional delay before each command, the state recorded after it."""

            def __init__(self, name: str) -> None:
                self.name = name
                self.label = ""

            def _arrive(self, kind: str, commands: Sequence[Command]) -> float:
                keys.track(commands)
                self.label = describe_step(kind, commands, prefix)
                return waits.pop() if waits else 0.0

            async def before(self, kind: str, commands: Sequence[Command]) -> None:
                wait = self._arrive(kind, commands)
                if wait:
                    await asyncio.sleep(wait)

            def before_blocking(self, kind: str, commands: Sequence[Command]) -> None:
                if abandon.is_set():
                    raise _Abandon()
                wait = self._arrive(kind, commands)
                if wait:
                    time.sleep(wait)

            def _record(self, reply: Any, error: Optional[BaseException], state: Snapshot) -> None:
                before = records[-1].state if records else initial
                text = f"error {type(error).__name__}: {error}" if error else _short(reply)
                records.append(StepRecord(len(records) + 1, self.name, self.label, text, state,
                                          _changed(before, state), _short(reply, None)))

            def after(self, commands: Sequence[Command], reply: Any,
                      error: Optional[BaseException]) -> Awaitable[None]:
                async def record() -> None:
                    self._record(reply, error, await keys.snapshot(clients.admin))
                return record()

            def after_blocking(self, commands: Sequence[Command], reply: Any,
                               error: Optional[BaseException]) -> None:
                self._record(reply, error, keys.snapshot_blocking(clients.admin_sync))

            def fake_reply(self, commands: Sequence[Command]) -> Any:
                return NOT_FAKED

        def call(name: str) -> Any:
            fn, args = self.actors[name]
            set_hook(_Recorder(name))
            return fn(clients.sync, *args)

        async def go(name: str) -> None:
            fn, args = self.actors[name]
            if delays[name] > 0:
                await asyncio.sleep(delays[name])
            try:
                if self._kinds.get(name) == "async":
                    set_hook(_Recorder(name))
                    value = fn(clients.aio, *args)
                    outcomes[name].result = await value if inspect.isawaitable(value) else value
                else:
                    value = await asyncio.to_thread(call, name)
                    if inspect.isawaitable(value):  # a lambda wrapping an async actor
                        getattr(value, "close", lambda: None)()
                        self._kinds[name] = "async"
                        set_hook(_Recorder(name))
                        value = await fn(clients.aio, *args)
                    else:
                        self._kinds[name] = "sync"
                    outcomes[name].result = value
                outcomes[name].status = _DONE
            except _Abandon:
                outcomes[name].status = _STOPPED
            except Exception as exc:  # noqa: BLE001
                outcomes[name].error, outcomes[name].status = exc, _RAISED

        tasks = {asyncio.ensure_future(go(n)): n for n in self.actors}
        _, pending = await asyncio.wait(tasks, timeout=limit + spread)
        stopped = None
        abandon.set()
        for task in pending:
            task.cancel()
            outcomes[tasks[task]].status = _HUNG
            stopped = (HUNG, f"actor {tasks[task]!r} did not finish within {limit:g} s; cancelled")
        if pending:
            await asyncio.wait(pending, timeout=self.step_timeout)
        final = await keys.snapshot(clients.admin)
        run = RunResult("", records, initial, final, outcomes, dict(self.aliases), seconds=time.perf_counter() - began)
        self._judge(run, stopped)
        return run
