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
``COMMAND`` table says where the keys sit) and every key a Lua script touches
beyond its ``KEYS`` (read from the server's MONITOR feed, see
:mod:`labkit.instruments.script_watch`), snapshots only those, and deletes all
of them, read or written, before each run - no SCAN, so a shared server with a
million keys costs what an empty one does. A run that meets a key for the first
time is run again with that key reset, so no run depends on leftovers. States are keyed by the keys the
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
  which pins ``time.time()``, ``datetime.now()`` (also through ``from ... import``
  bindings) and the Redis ``TIME`` command; a run that read the real time says so in
  its trace. ``redis.call('TIME')`` inside a Lua script reads the server's clock,
  which nothing here can pin: the trace names the script (see :mod:`.clock`);
* other processes and threads it did not start, including threads an actor starts
  itself;
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
import os
import random
import statistics
import threading
import time
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence, Union

import redis
import redis.asyncio as aredis

from ..redis.target import RedisTarget
from .clock import StepClock, intercept_time
from .controlled import Session, _Clients, _Run, _Tracker
from .runs import (_DONE, _HUNG, _RAISED, _STARTING, _STOPPED, BOUND, ERROR, HUNG, OK, VIOLATION, ActorOutcome,
                   ExploreResult, ExplorerError, Mismatch, RunResult, ScheduleMismatch, StepRecord, StressResult,
                   _Abandon, _changed, _short, format_value)
from .script_watch import ScriptWatch, is_script, reads_server_clock
from .state import Snapshot, _Keys
from .stepping import NOT_FAKED, Command, SteppedRedis, SyncSteppedRedis, describe_step, set_hook, step

__all__ = [
    "Explorer", "ExploreResult", "RunResult", "StepRecord", "ActorOutcome", "StressResult", "Mismatch",
    "Session", "Snapshot", "StepClock", "ExplorerError", "ScheduleMismatch", "step", "format_value",
    "OK", "VIOLATION", "ERROR", "HUNG", "BOUND",
]

ActorFn = Callable[..., Any]
ActorSpec = Union[ActorFn, tuple]
Setup = Callable[[Any], Any]
Invariant = Callable[["RunResult"], Any]


def _aliases(names: Sequence[str]) -> dict[str, str]:
    """One character per actor, never shared and never silently swapped for A, B, C.

    Its initial when free; else the first character where it differs from the
    names before it; else any free character of its name: ``worker, reconciler``
    -> ``W, R``; ``actor0, actor1`` -> ``A, 1``; ``reconciler, replica`` -> ``R, P``.
    """
    taken: dict[str, str] = {}
    for name in names:
        used = set(taken.values())
        common = max((len(os.path.commonprefix([name.upper(), other.upper()])) for other in taken), default=0)
        candidates = [name[0]] + list(name[common:]) + list(name)
        letter = next((c.upper() for c in candidates if c.isalnum() and c.upper() not in used), None)
        taken[name] = letter or next(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)
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
                            aredis.Redis.from_url(url), redis.Redis.from_url(url),
                            ScriptWatch(url, self.step_timeout * 5))
        except TypeError as exc:
            raise ExplorerError(f"client_options {self.client_options} are not redis client options: {exc}") from exc

    async def _done(self, clients: _Clients) -> None:
        """Record the keys touched (so a later explorer on this target resets them too), close the clients."""
        try:
            if self._keys.seen:
                await clients.admin.sadd(self._keys.registry, *self._keys.seen)
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
        """One controlled run; run again (same choices) while it meets keys its reset did not cover.

        A key first met during a run held whatever was there before (an earlier
        cell's leftovers), so that run did not start from ``setup`` alone: the
        run is repeated with that key reset too. A fresh explorer pays this once.
        """
        for _ in range(3):
            known = len(self._keys.seen)
            result, decisions, mismatch = await self._drive_once(clients, prefix, strict, choose)
            if len(self._keys.seen) == known:
                break
        return result, decisions, mismatch

    async def _drive_once(self, clients: _Clients, prefix: Sequence[str], strict: bool,
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
        """Delete every key this scenario (or an earlier one on the same target) touched; returns how many."""
        await self._keys.load()
        admin = aredis.Redis.from_url(self.target.url)
        try:
            n = await self._keys.reset(admin)
            await admin.delete(self._keys.registry)
            return n
        finally:
            await admin.aclose()

    async def stress(
        self,
        runs: int = 200,
        *,
        jitter: float = 0.0,
        start_spread: float = 0.0,
        seed: int = 0,
        seeds: int | Sequence[int] = 5,
        stop_at_first_failure: bool = False,
        time_budget: Optional[float] = None,
        run_timeout: Optional[float] = None,
        scheduled: bool = False,
        history: bool = True,
    ) -> StressResult:
        """Run all actors at once, ``runs`` times per seed, the way one would hunt a race without the explorer.

        The result has the failure rate over every run and runs-to-first-failure
        as a median over the seeds (``seeds``: a count, starting at ``seed``, or a
        list): one seed's first failure is a single noisy sample.
        ``stop_at_first_failure=True`` ends each seed at its first failure, a
        quick hunt whose failure rate then counts only the runs made.
        ``jitter`` adds a random sleep (0..jitter s) before each command;
        ``start_spread`` starts each actor after a random 0..start_spread s, as a
        reconciler sweep meets a worker finishing at an arbitrary moment.
        Every step's state is recorded, so history invariants hold their meaning;
        recording costs a snapshot after each write, which nudges the timing it
        watches, and ``history=False`` records only the start and the end.
        The OS interleaves free-running actors, so only the delays come from the
        seed; ``scheduled=True`` instead draws each run's schedule from the seed
        and runs it under the explorer's control: reproducible, and a failing run
        has a schedule id to replay.
        """
        if not (isinstance(runs, int) and runs > 0):
            raise ExplorerError(f"runs must be a positive int, got {runs!r}")
        if not (isinstance(jitter, (int, float)) and 0 <= jitter <= 1):
            raise ExplorerError(f"jitter is a delay in seconds from 0 to 1, got {jitter!r}")
        if not (isinstance(start_spread, (int, float)) and 0 <= start_spread <= 1):
            raise ExplorerError(f"start_spread is a delay in seconds from 0 to 1, got {start_spread!r}")
        if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds > 0:
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
                        for _ in range(3):  # again while it meets keys its reset missed, as _drive does
                            known = len(self._keys.seen)
                            if scheduled:
                                pick = random.Random(f"{s}:{i}")
                                run, _, _ = await self._drive_once(clients, (), False, lambda e, r=pick: r.choice(e))
                            else:
                                run = await self._free_run(clients, rng, float(jitter), float(start_spread), limit,
                                                           history)
                            if len(self._keys.seen) == known:
                                break
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
                            seed_list, per_seed, scheduled, stop_at_first_failure)

    async def _free_run(self, clients: _Clients, rng: random.Random, jitter: float, spread: float,
                        limit: float, history: bool = True) -> RunResult:
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
        scripts: list[Command] = []

        class _Recorder:
            """Free-running hook: optional delay before each command, the state recorded after it."""

            def __init__(self, name: str) -> None:
                self.name = name
                self.label = ""
                self.writes = False

            def _arrive(self, kind: str, commands: Sequence[Command]) -> float:
                keys.track(commands)
                scripts.extend(c for c in commands if is_script(c))
                self.label = describe_step(kind, commands, prefix)
                table = keys.table
                self.writes = table is None or any(table.writes(c) or kind != "command" for c in commands)
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

            # Only a write changes the state, so only a write pays a snapshot round trip: the
            # recording itself shifts the timing it observes as little as it can.
            def after(self, commands: Sequence[Command], reply: Any,
                      error: Optional[BaseException]) -> Optional[Awaitable[None]]:
                if not history:
                    return None
                if not self.writes:
                    self._record(reply, error, records[-1].state if records else initial)
                    return None

                async def record() -> None:
                    self._record(reply, error, await keys.snapshot(clients.admin))
                return record()

            def after_blocking(self, commands: Sequence[Command], reply: Any,
                               error: Optional[BaseException]) -> None:
                if history:
                    state = keys.snapshot_blocking(clients.admin_sync) if self.writes else \
                        (records[-1].state if records else initial)
                    self._record(reply, error, state)

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
        server_time = []
        if scripts and clients.scripts.started:
            ran = await clients.script_commands(scripts)
            keys.track(ran, within_prefix=True)
            server_time = ["a script via redis.call('TIME')"] if reads_server_clock(ran) else []
        elif scripts:
            await clients.scripts.start()  # from the next run on, what scripts touch beyond KEYS is tracked
        final = await keys.snapshot(clients.admin)
        run = RunResult("", records, initial, final, outcomes, dict(self.aliases), seconds=time.perf_counter() - began,
                        read_server_time=server_time)
        self._judge(run, stopped)
        return run
