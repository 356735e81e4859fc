"""One controlled run of the explorer: each actor (a task, or a thread for sync code) paused at its step points.

Only one actor runs between two step points; :class:`_Run` lets them go one step
at a time and records the state after each. :class:`Session` is a run stepped by hand.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

import redis
import redis.asyncio as aredis

from .clock import StepClock, intercept_time
from .runs import (_BLOCKED, _DONE, _HUNG, _RAISED, _RUNNING, _STARTING, _STOPPED, _WAITING, HUNG, ActorOutcome,
                   ExplorerError, RunResult, StepRecord, _Abandon, _changed, _short)
from .script_watch import ScriptWatch, is_script, reads_server_clock
from .state import Snapshot, _Keys
from .stepping import NOT_FAKED, Command, describe_step, is_evalsha, noscript_sha, set_hook

if TYPE_CHECKING:
    from .explorer import Explorer

ActorFn = Callable[..., Any]

# --- one controlled run ----------------------------------------------------------------

_LIST_BLOCKERS = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP"})


@dataclass
class _Clients:
    """The clients of one explore/replay/stress call: stepped async and sync, and an unstepped admin."""

    aio: aredis.Redis
    sync: redis.Redis
    admin: aredis.Redis
    admin_sync: redis.Redis
    scripts: ScriptWatch

    async def script_commands(self, sent: Sequence[Command]) -> list[Command]:
        """What the scripts among ``sent`` ran (the feed opens on the first script: see :mod:`.script_watch`)."""
        if not any(is_script(c) for c in sent) or not self.scripts.started:
            return []
        return await self.scripts.commands_of(self.admin, sent)

    async def close(self) -> None:
        try:
            await self.scripts.close()
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
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
        self.commands: list[Command] = []
        self.writes = True
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
        self.commands = list(commands)
        self.real_time = False
        table = self.run.keys.table
        self.writes = kind not in ("command", "step") or table is None or any(table.writes(c) for c in commands)
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

    def read_clock(self, what: str = "the clock (time.time, datetime.now...)") -> Optional[float]:
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
        if command in _LIST_BLOCKERS:  # ready while one of its lists / sorted sets has an item
            self.ready = any(bool(v) for v in values.values())
            return
        if self.block_baseline is None:  # a stream read: ready if it has entries now, or once it changes
            self.block_baseline = values
            self.ready = any(bool(v) for v in values.values())
        else:
            self.ready = values != self.block_baseline
        if self.ready:
            self.blocked_on = None  # stream entries stay: it stays ready


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
        self.server_time: list[str] = []
        self.snapped = 0
        self.began = time.perf_counter()

    async def _snapshot(self) -> Snapshot:
        self.snapped = len(self.keys.seen)
        return await self.keys.snapshot(self.clients.admin)

    def note_real_time(self, actor: str, what: str) -> None:
        entry = f"{actor} via {what} at step {len(self.records) + 1}"
        if entry not in self.real_time:
            self.real_time.append(entry)

    def note_script_commands(self, actor: str, label: str, commands: list[Command]) -> None:
        """Track the keys a script touched beyond its KEYS; note a script that read the server's clock."""
        self.keys.track(commands, within_prefix=True)
        if reads_server_clock(commands):
            self.server_time.append(f"{actor}'s {' '.join(label.split()[:2])} at step {len(self.records) + 1}")

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
        self.initial = self.state = await self._snapshot()
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
        sent, writes = slot.commands, slot.writes  # this step's: by the time it settles, the slot holds the next
        if any(is_script(c) for c in sent):
            await self.clients.scripts.start()
        slot.release()
        await self._settle(slot, f"after step {len(self.records) + 1} ({label})")
        self.note_script_commands(name, label, await self.clients.script_commands(sent))
        # A read changes nothing: only a step that writes (or names a key new to the state) pays a snapshot.
        if writes or slot.status == _HUNG or len(self.keys.seen) != self.snapped:
            after = await self._snapshot()
        else:
            after = self.state
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
                        seconds=time.perf_counter() - self.began, read_real_time=list(self.real_time),
                        read_server_time=list(self.server_time))
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

