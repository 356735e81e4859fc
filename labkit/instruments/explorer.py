"""The interleaving explorer: run async actors against the real Redis, one step at a time.

A *scenario* is a few async *actors* (``async def actor(client) -> Any``), a
``setup`` that writes the starting state, and *invariants* that judge a run.
The explorer decides which actor's next step runs - a step is one Redis
command sent through the client it hands the actor (see
:mod:`labkit.instruments.stepping`), or an explicit ``await step("label")`` - so it can:

* :meth:`Explorer.explore` - enumerate every schedule (depth-first, with bounds,
  counting what was cut), resetting the keys under its prefix between runs and
  checking the invariants after each;
* :meth:`Explorer.replay` - run one schedule again, exactly, from its id;
* :meth:`Explorer.stress` - the comparison: run the actors freely at the same
  time, many times, optionally with small random delays;
* :meth:`Explorer.session` - step by hand (the "be the scheduler" widget).

Only one actor runs between two step points, so a run is determined by its
schedule. An actor that finishes early simply drops out; one that raises is
recorded; one that does not reach its next step within ``step_timeout`` is
cancelled and reported as hung, so the explorer itself never hangs.

Nothing here knows about documents or tasks: :mod:`labkit.lessons.race_demo` builds
the DONE->FAIL scenario on top.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

import redis.asyncio as aredis

from ..errors import LabError
from ..redis.target import RedisTarget
from .stepping import (
    Command,
    SteppedRedis,
    describe_step,
    is_evalsha,
    noscript_sha,
    set_hook,
    step,
)

__all__ = [
    "Explorer", "ExploreResult", "RunResult", "StepRecord", "ActorOutcome", "StressResult",
    "Session", "ExplorerError", "ScheduleMismatch", "step", "format_value",
]

Actor = Callable[[aredis.Redis], Awaitable[Any]]
Setup = Callable[[aredis.Redis], Awaitable[None]]
Invariant = Callable[["RunResult"], Any]
Snapshot = dict[str, Any]

# run outcomes
OK, VIOLATION, ERROR, HUNG, BOUND = "ok", "violation", "error", "hung", "step-bound"
# actor states
_STARTING, _RUNNING, _WAITING, _DONE, _RAISED, _HUNG, _STOPPED = (
    "starting", "running", "waiting", "finished", "raised", "hung", "stopped")


class ExplorerError(LabError):
    """The scenario cannot be explored as written (bad actors, bad arguments...)."""


class ScheduleMismatch(ExplorerError):
    """A schedule id that does not fit this scenario (wrong actor at some step, or wrong length)."""


# --- snapshot and reset, each one server round trip -------------------------------

_SNAPSHOT = """
-- snapshot
local out = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do
    local t = redis.call('TYPE', k)['ok']
    local v
    if t == 'string' then v = redis.call('GET', k)
    elseif t == 'hash' then v = redis.call('HGETALL', k)
    elseif t == 'set' then v = redis.call('SMEMBERS', k)
    elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    else v = {} end
    table.insert(out, {k, t, v})
  end
until cursor == '0'
return out
"""

_RESET = """
-- reset
local n = 0
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[1], 'COUNT', 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do redis.call('DEL', k); n = n + 1 end
until cursor == '0'
return n
"""


def _decode_snapshot(raw: Sequence[Any], prefix: str) -> Snapshot:
    state: Snapshot = {}
    for key, kind, value in raw:
        name = key[len(prefix):] if key.startswith(prefix) else key
        if kind == "hash":
            state[name] = dict(zip(value[::2], value[1::2]))
        elif kind == "set":
            state[name] = frozenset(value)
        elif kind == "list":
            state[name] = list(value)
        elif kind == "zset":
            state[name] = [(m, float(s)) for m, s in zip(value[::2], value[1::2])]
        elif kind == "string":
            state[name] = value
        else:
            state[name] = f"<{kind}>"
    return dict(sorted(state.items()))


def format_value(value: Any) -> str:
    """A compact, stable rendering of one snapshot value."""
    if value is None:
        return "(deleted)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    if isinstance(value, frozenset):
        return "{" + ", ".join(sorted(value)) + "}" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _changed(before: Snapshot, after: Snapshot) -> tuple[str, ...]:
    keys = sorted(set(before) | set(after))
    return tuple(k for k in keys if before.get(k) != after.get(k))


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

    @property
    def failed(self) -> bool:
        return self.outcome != OK

    @property
    def states(self) -> list[Snapshot]:
        """The state before the first step and after each step (in stress mode: start and end)."""
        if self.steps:
            return [self.initial] + [s.state for s in self.steps]
        return [self.initial, self.final]

    def result(self, actor: str) -> Any:
        """What ``actor`` returned (``None`` if it raised, hung or was stopped)."""
        return self.actors[actor].result

    def trace(self) -> str:
        """The run as readable text: each step, its reply, and the keys it changed."""
        legend = ", ".join(f"{a} = {n}" for n, a in self.aliases.items())
        verdict = "OK" if not self.failed else f"{self.outcome.upper()}: {self.message}"
        lines = [f"schedule {self.schedule_id or '(free-running)'}   ({legend})", f"  -> {verdict}", "  start:"]
        lines += [f"      {k} = {format_value(v)}" for k, v in self.initial.items()] or ["      (empty)"]
        width = max((len(n) for n in self.actors), default=6)
        for rec in self.steps:
            lines.append(f"  {rec.index:>2}. {rec.actor:<{width}}  {rec.label}  -> {rec.reply}")
            if not rec.changed:
                lines.append("        (no change)")
            for key in rec.changed:
                lines.append(f"        {key} = {format_value(rec.state.get(key))}")
        if not self.steps:
            lines.append("  end:")
            lines += [f"      {k} = {format_value(v)}" for k, v in self.final.items()]
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
class StressResult:
    """Random testing for comparison: how long until the race showed up, if it did."""

    name: str
    runs: int
    failures: int
    runs_to_first_failure: Optional[int]
    seconds_to_first_failure: Optional[float]
    seconds: float
    jitter: float
    seed: int
    first_failure: Optional[RunResult] = None
    start_spread: float = 0.0

    def summary(self) -> str:
        parts = []
        if self.start_spread:
            parts.append(f"random start offsets up to {self.start_spread * 1000:g} ms")
        if self.jitter:
            parts.append(f"random delays up to {self.jitter * 1000:g} ms before each command")
        how = "with " + " and ".join(parts) if parts else "with no added delays"
        if self.runs_to_first_failure is None:
            found = "never failed"
        else:
            found = f"first failure at run {self.runs_to_first_failure} ({self.seconds_to_first_failure:.3f} s)"
        return (f"{self.name} stress {how}: {self.runs} runs in {self.seconds:.2f} s, "
                f"{self.failures} failing; {found}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())


# --- one controlled run ----------------------------------------------------------------


class _Slot:
    """One actor inside one controlled run; it is also the actor's step hook."""

    def __init__(self, run: "_Run", name: str, fn: Actor) -> None:
        self.run = run
        self.name = name
        self.fn = fn
        self.status = _STARTING
        self.label = ""
        self.gate: Optional[asyncio.Future[None]] = None
        self.settled = asyncio.Event()
        self.task: Optional[asyncio.Task[None]] = None
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.reply: str = ""
        self.steps = 0
        self.free_sha: Optional[str] = None
        self.note = ""

    async def before(self, kind: str, commands: Sequence[Command]) -> None:
        if self.free_sha is not None and is_evalsha(commands, self.free_sha):
            self.free_sha = None  # redis-py resending a script after NOSCRIPT: same step
            return
        if self.status == _WAITING:
            raise ExplorerError(
                f"actor {self.name!r} sent two Redis commands at once (asyncio.gather inside one actor?). "
                "The explorer runs one step per actor at a time: split the concurrent parts into separate actors.")
        self.label = describe_step(kind, commands, self.run.prefix)
        self.gate = asyncio.get_running_loop().create_future()
        self.status = _WAITING
        self.settled.set()
        await self.gate

    def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
        self.free_sha = noscript_sha(commands, error)
        if error is not None:
            self.reply = f"error {type(error).__name__}: {error}"
        elif commands and str(commands[0][0]).upper() == "STEP":
            self.reply = "ok"
        else:
            self.reply = _short(reply)

    async def main(self, client: aredis.Redis) -> None:
        set_hook(self)
        try:
            self.result = await self.fn(client)
            self.status = _DONE
        except asyncio.CancelledError:
            if self.status not in (_HUNG,):
                self.status = _STOPPED
            raise
        except Exception as exc:  # noqa: BLE001 - an actor's crash is a finding, not our crash
            self.error = exc
            self.status = _RAISED
        finally:
            self.settled.set()


class _Run:
    """One run: reset, set up, start the actors, then step them as told."""

    def __init__(self, explorer: "Explorer", client: aredis.Redis, admin: aredis.Redis) -> None:
        self.ex = explorer
        self.client = client
        self.admin = admin
        self.prefix = explorer.target.prefix
        self.slots = {name: _Slot(self, name, fn) for name, fn in explorer.actors.items()}
        self.records: list[StepRecord] = []
        self.choices: list[str] = []
        self.initial: Snapshot = {}
        self.state: Snapshot = {}
        self.stopped: Optional[tuple[str, str]] = None  # (outcome, message)
        self.began = time.perf_counter()

    async def start(self) -> None:
        await self.ex._reset(self.admin)
        await self.ex._setup(self.admin)
        self.initial = self.state = await self.ex._snapshot(self.admin)
        for slot in self.slots.values():  # one at a time, so start-up is deterministic too
            slot.task = asyncio.ensure_future(slot.main(self.client))
            await self._settle(slot, "before its first step")
            if self.stopped:
                return

    async def _settle(self, slot: _Slot, when: str) -> None:
        try:
            await asyncio.wait_for(slot.settled.wait(), self.ex.step_timeout)
        except asyncio.TimeoutError:
            slot.status = _HUNG
            slot.note = (f"did not reach its next step or finish within {self.ex.step_timeout:g} s {when}; "
                         "cancelled (is it waiting for something that never comes?)")
            if slot.task is not None:
                slot.task.cancel()
            self.stopped = (HUNG, f"actor {slot.name!r} {slot.note}")

    def enabled(self) -> list[str]:
        """Actors waiting at a step point, in declaration order."""
        if self.stopped:
            return []
        return [n for n, s in self.slots.items() if s.status == _WAITING]

    def next_labels(self) -> dict[str, str]:
        return {n: self.slots[n].label for n in self.enabled()}

    async def advance(self, name: str) -> StepRecord:
        slot = self.slots.get(name)
        if slot is None:
            raise ExplorerError(f"no actor called {name!r}; actors are {list(self.slots)}")
        if slot.status != _WAITING or self.stopped:
            raise ExplorerError(f"actor {name!r} cannot step now (it is {slot.status}); enabled: {self.enabled()}")
        label = slot.label
        slot.settled.clear()
        slot.status = _RUNNING
        slot.steps += 1
        self.choices.append(name)
        assert slot.gate is not None
        slot.gate.set_result(None)
        await self._settle(slot, f"after step {len(self.records) + 1} ({label})")
        after = await self.ex._snapshot(self.admin)
        reply = slot.reply if slot.status != _HUNG else "(no reply: hung)"
        record = StepRecord(len(self.records) + 1, name, label, reply, after, _changed(self.state, after))
        self.state = after
        self.records.append(record)
        return record

    async def finish(self, schedule_id: str) -> RunResult:
        tasks = [s.task for s in self.slots.values() if s.task is not None and not s.task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            _, stuck = await asyncio.wait(tasks, timeout=self.ex.step_timeout)
            for slot in self.slots.values():
                if slot.task in stuck:
                    slot.note = "ignored cancellation; abandoned"
        final = await self.ex._snapshot(self.admin)
        actors = {n: ActorOutcome(n, s.status, s.result, s.error, s.steps, s.note) for n, s in self.slots.items()}
        run = RunResult(schedule_id, list(self.records), self.initial, final, actors, dict(self.ex.aliases),
                        seconds=time.perf_counter() - self.began)
        self.ex._judge(run, self.stopped)
        return run


class Session:
    """A run stepped by hand: the engine behind the "be the scheduler" widget."""

    def __init__(self, explorer: "Explorer", run: _Run, clients: tuple[aredis.Redis, aredis.Redis]) -> None:
        self._explorer = explorer
        self._run = run
        self._clients = clients
        self.result: Optional[RunResult] = None

    @property
    def actors(self) -> list[str]:
        return list(self._run.slots)

    def enabled(self) -> dict[str, str]:
        """Actors that can step now, with the step each would take next."""
        return {} if self.result else self._run.next_labels()

    def status(self, actor: str) -> str:
        return self._run.slots[actor].status

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
                await _close(*self._clients)
        return self.result


async def _close(*clients: aredis.Redis) -> None:
    for client in clients:
        try:
            await client.aclose()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass


def _aliases(names: Sequence[str]) -> dict[str, str]:
    firsts = [n[0].upper() for n in names]
    if len(set(firsts)) == len(names) and all(c.isalpha() for c in firsts):
        return dict(zip(names, firsts))
    return {n: chr(ord("A") + i) for i, n in enumerate(names)}


def _preemptions(choices: Sequence[str], enabled: Sequence[Sequence[str]]) -> int:
    """Switches away from an actor that could have kept going."""
    return sum(1 for i in range(1, len(choices))
               if choices[i] != choices[i - 1] and choices[i - 1] in enabled[i])


class Explorer:
    """Enumerate, replay and stress the interleavings of a few async actors on real Redis.

    ``actors`` maps a name to ``async def actor(client)``; each gets a
    ``redis.asyncio`` client whose commands are step points. ``setup(client)``
    writes the starting state (after every key under ``target``'s prefix has
    been deleted). Each invariant takes the :class:`RunResult` and returns
    ``None``/``True`` when it holds, or a message (or ``False``, or raises
    ``AssertionError``) when it does not.
    """

    def __init__(
        self,
        target: RedisTarget,
        actors: Mapping[str, Actor],
        *,
        setup: Optional[Setup] = None,
        invariants: Invariant | Sequence[Invariant] = (),
        name: str = "scenario",
        step_timeout: float = 1.0,
        max_steps: int = 200,
        errors_fail: bool = True,
    ) -> None:
        if not isinstance(target, RedisTarget):
            raise ExplorerError(f"target must be a RedisTarget (labkit.redis.target.redis_target()), got {target!r}")
        if not isinstance(actors, Mapping) or not actors:
            raise ExplorerError("actors must be a non-empty dict of name -> async def actor(client)")
        if len(actors) > 8:
            raise ExplorerError(f"{len(actors)} actors is too many to enumerate; keep scenarios to 8 or fewer")
        for actor_name, fn in actors.items():
            if not isinstance(actor_name, str) or not actor_name.strip():
                raise ExplorerError(f"actor names must be non-empty strings, got {actor_name!r}")
            if not callable(fn):
                raise ExplorerError(f"actor {actor_name!r} must be an async function of (client), got {fn!r}")
        if setup is not None and not callable(setup):
            raise ExplorerError(f"setup must be an async function of (client), got {setup!r}")
        invariants = [invariants] if callable(invariants) else list(invariants)
        for inv in invariants:
            if not callable(inv):
                raise ExplorerError(f"each invariant must be a function of (run), got {inv!r}")
        if not (isinstance(step_timeout, (int, float)) and step_timeout > 0):
            raise ExplorerError(f"step_timeout must be a positive number of seconds, got {step_timeout!r}")
        if not (isinstance(max_steps, int) and max_steps > 0):
            raise ExplorerError(f"max_steps must be a positive int, got {max_steps!r}")
        self.target = target
        self.actors = dict(actors)
        self.aliases = _aliases(list(self.actors))
        self.setup = setup
        self.invariants = invariants
        self.name = name
        self.step_timeout = float(step_timeout)
        self.max_steps = max_steps
        self.errors_fail = errors_fail

    # -- plumbing ------------------------------------------------------------------
    def _clients(self) -> tuple[aredis.Redis, aredis.Redis]:
        stepped = SteppedRedis.from_url(self.target.url, decode_responses=True)
        return stepped, self.target.async_client()

    async def _reset(self, admin: aredis.Redis) -> None:
        await admin.eval(_RESET, 0, self.target.pattern)

    async def _setup(self, admin: aredis.Redis) -> None:
        if self.setup is not None:
            await self.setup(admin)

    async def _snapshot(self, admin: aredis.Redis) -> Snapshot:
        raw = await admin.eval(_SNAPSHOT, 0, self.target.pattern)
        return _decode_snapshot(raw, self.target.prefix)

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

    async def _drive(self, client: aredis.Redis, admin: aredis.Redis, prefix: Sequence[str],
                     strict: bool) -> tuple[RunResult, list[tuple[tuple[str, ...], str]]]:
        run = _Run(self, client, admin)
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
                    choice = enabled[0]
                decisions.append((tuple(enabled), choice))
                await run.advance(choice)
        finally:
            ident = "".join(self.aliases[c] for _, c in decisions)
            result = await run.finish(ident)
        if strict and not mismatch and len(decisions) < len(prefix) and result.outcome not in (HUNG, BOUND):
            mismatch = f"the run ended after {len(decisions)} steps, before the schedule id's {len(prefix)}"
        if mismatch:
            raise ScheduleMismatch(f"schedule does not fit scenario {self.name!r}: {mismatch}")
        return result, decisions

    # -- public API --------------------------------------------------------------------
    async def explore(
        self,
        *,
        max_schedules: int = 5000,
        preemption_bound: Optional[int] = None,
        stop_at_first_failure: bool = False,
        progress: Optional[Callable[[int, int], None]] = None,
    ) -> ExploreResult:
        """Run every schedule (depth-first) up to the bounds; judge each one."""
        if not (isinstance(max_schedules, int) and max_schedules > 0):
            raise ExplorerError(f"max_schedules must be a positive int, got {max_schedules!r}")
        if preemption_bound is not None and not (isinstance(preemption_bound, int) and preemption_bound >= 0):
            raise ExplorerError(f"preemption_bound must be None or an int >= 0, got {preemption_bound!r}")
        client, admin = self._clients()
        runs: list[RunResult] = []
        stack: list[tuple[str, ...]] = [()]
        cut = 0
        began = time.perf_counter()
        first_failure_at: Optional[float] = None
        stopped_early = False
        try:
            while stack:
                if len(runs) >= max_schedules:
                    cut += len(stack)
                    break
                prefix = stack.pop()
                run, decisions = await self._drive(client, admin, prefix, strict=False)
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
                        if preemption_bound is not None and _preemptions(branch, enabled_sets) > preemption_bound:
                            cut += 1
                            continue
                        stack.append(branch)
        finally:
            await _close(client, admin)
        return ExploreResult(
            self.name, runs, dict(self.aliases), cut, complete=not stack and not stopped_early and cut == 0,
            seconds=time.perf_counter() - began, seconds_to_first_failure=first_failure_at,
            bounds={"max_schedules": max_schedules, "preemption_bound": preemption_bound,
                    "max_steps": self.max_steps})

    async def replay(self, schedule_id: str) -> RunResult:
        """Run exactly the schedule ``schedule_id`` again and return its trace."""
        choices = self.parse_schedule(schedule_id)
        client, admin = self._clients()
        try:
            run, _ = await self._drive(client, admin, choices, strict=True)
        finally:
            await _close(client, admin)
        return run

    async def session(self) -> Session:
        """Start a run that you step by hand with ``await session.step(actor)``."""
        client, admin = self._clients()
        run = _Run(self, client, admin)
        try:
            await run.start()
        except BaseException:
            await _close(client, admin)
            raise
        return Session(self, run, (client, admin))

    async def stress(
        self,
        runs: int = 1000,
        *,
        jitter: float = 0.0,
        start_spread: float = 0.0,
        seed: int = 0,
        stop_at_first_failure: bool = True,
        time_budget: Optional[float] = None,
        run_timeout: Optional[float] = None,
    ) -> StressResult:
        """Run all actors at once, ``runs`` times, the way one would hunt a race without the explorer.

        ``jitter`` adds a random sleep (0..jitter s) before each command;
        ``start_spread`` starts each actor after a random 0..start_spread s, as a
        reconciler sweep meets a worker finishing at an arbitrary moment.
        """
        if not (isinstance(runs, int) and runs > 0):
            raise ExplorerError(f"runs must be a positive int, got {runs!r}")
        if not (isinstance(jitter, (int, float)) and 0 <= jitter <= 1):
            raise ExplorerError(f"jitter is a delay in seconds from 0 to 1, got {jitter!r}")
        if not (isinstance(start_spread, (int, float)) and 0 <= start_spread <= 1):
            raise ExplorerError(f"start_spread is a delay in seconds from 0 to 1, got {start_spread!r}")
        rng = random.Random(seed)
        limit = run_timeout if run_timeout is not None else self.step_timeout * 5
        client, admin = self._clients()
        began = time.perf_counter()
        failures = 0
        first: Optional[RunResult] = None
        first_at: Optional[tuple[int, float]] = None
        done_runs = 0
        try:
            for i in range(runs):
                if time_budget is not None and time.perf_counter() - began > time_budget:
                    break
                run = await self._free_run(client, admin, rng, float(jitter), float(start_spread), limit)
                done_runs += 1
                if run.failed:
                    failures += 1
                    if first is None:
                        first, first_at = run, (i + 1, time.perf_counter() - began)
                        if stop_at_first_failure:
                            break
        finally:
            await _close(client, admin)
        return StressResult(self.name, done_runs, failures, first_at[0] if first_at else None,
                            first_at[1] if first_at else None, time.perf_counter() - began,
                            float(jitter), seed, first, float(start_spread))

    async def _free_run(self, client: aredis.Redis, admin: aredis.Redis, rng: random.Random,
                        jitter: float, spread: float, limit: float) -> RunResult:
        began = time.perf_counter()
        await self._reset(admin)
        await self._setup(admin)
        initial = await self._snapshot(admin)
        outcomes = {n: ActorOutcome(n, _STARTING) for n in self.actors}

        class _Jitter:
            async def before(self, kind: str, commands: Sequence[Command]) -> None:
                await asyncio.sleep(rng.uniform(0, jitter))

            def after(self, commands: Sequence[Command], reply: Any, error: Optional[BaseException]) -> None:
                pass

        async def go(name: str, fn: Actor, delay: float) -> None:
            set_hook(_Jitter() if jitter > 0 else None)
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                outcomes[name].result = await fn(client)
                outcomes[name].status = _DONE
            except Exception as exc:  # noqa: BLE001
                outcomes[name].error, outcomes[name].status = exc, _RAISED

        delays = {n: rng.uniform(0, spread) if spread > 0 else 0.0 for n in self.actors}
        tasks = {asyncio.ensure_future(go(n, fn, delays[n])): n for n, fn in self.actors.items()}
        _, pending = await asyncio.wait(tasks, timeout=limit + spread)
        stopped = None
        for task in pending:
            task.cancel()
            outcomes[tasks[task]].status = _HUNG
            stopped = (HUNG, f"actor {tasks[task]!r} did not finish within {limit:g} s; cancelled")
        if pending:
            await asyncio.wait(pending, timeout=self.step_timeout)
        final = await self._snapshot(admin)
        run = RunResult("", [], initial, final, outcomes, dict(self.aliases), seconds=time.perf_counter() - began)
        self._judge(run, stopped)
        return run
