"""What the interleaving explorer reports: steps, runs, enumerations, stress hunts, and its errors."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Optional

from ..errors import LabError
from .state import Snapshot

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


def plain(value: Any) -> str:
    """A value as a learner reads it in a trace: ``Outcome.DOC_DONE``, ``{d1}``, ``{state: DONE}``.

    Python's repr would show ``<Outcome.DOC_DONE: 'doc-done'>``, ``{'d1'}`` and ``set()``: noise
    around the few words that matter. Strings lose their quotes, containers keep their brackets.
    """
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{plain(k)}: {plain(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(plain(v) for v in value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(plain(v) for v in value) + "]"
    if isinstance(value, str):
        return value if value.strip() == value and value else repr(value)  # '' and ' x' stay visible
    return repr(value)


def _short(value: Any, limit: Optional[int] = 60) -> str:
    text = plain(value)
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
            returned = "" if self.result is None else f", returned {_short(self.result)}"
            return f"{self.name}: finished after {self._steps()}{returned}"
        if self.status == _RAISED:
            return f"{self.name}: raised {type(self.error).__name__}: {self.error} (after {self._steps()})"
        return f"{self.name}: {self.status} after {self._steps()}{' - ' + self.note if self.note else ''}"

    def _steps(self) -> str:
        return f"{self.steps} step{'' if self.steps == 1 else 's'}"


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
    read_server_time: list[str] = field(default_factory=list)

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
        if self.read_server_time:
            lines.append(f"  ! a Lua script read the server's clock, redis.call('TIME') "
                         f"({'; '.join(self.read_server_time)}): no client-side clock can pin that, so a replay "
                         "may differ; pass the time in as an argument (ARGV) to make it replayable")
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

    @property
    def verdict(self) -> str:
        """The run's outcome in a few words: the failure without its command, or that all held."""
        return self.message.split(" (", 1)[0] if self.failed else "every invariant holds"

    @property
    def point(self) -> str:
        """What the timeline figure shows, in one line."""
        return f"Schedule {self.schedule_id or '(free-running)'}: {self.verdict}."

    def plot(self, **kwargs: Any) -> Any:
        """A timeline figure of this run (see :func:`labkit.figures.race.plot_timeline`)."""
        from ..figures.race import plot_timeline
        from ..figures.style import stating

        return stating(plot_timeline(self, **kwargs), self.point)

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

    @property
    def point(self) -> str:
        """What the schedule grid shows, in one line."""
        first = self.first_failure
        if first is None:
            return f"All {self.schedules} schedules of {self.name} keep every invariant."
        return (f"{len(self.failing)} of {self.schedules} schedules of {self.name} break an invariant; "
                f"the first, {first.schedule_id}: {first.verdict}.")

    def plot(self, **kwargs: Any) -> Any:
        """A figure of all schedules and their outcomes (see :func:`labkit.figures.race.plot_schedules`)."""
        from ..figures.race import plot_schedules
        from ..figures.style import stating

        return stating(plot_schedules(self, **kwargs), self.point)

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
    stopped_at_first_failure: bool = False

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
        stopped = " (each seed stopped at its first failure)" if self.stopped_at_first_failure and found else ""
        return (f"{self.name} stress {how}: {self.runs} runs in {self.seconds:.2f} s, "
                f"{self.failures} failing ({self.failure_rate:.1%}){stopped}; {first}.{note}")

    def __str__(self) -> str:
        return self.summary()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())

