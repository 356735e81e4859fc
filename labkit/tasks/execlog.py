"""The execution log: every beat, claim, model call and verdict, as JSON lines in Redis.

Workers and the recovery loop run in different processes, so they write what
happened to one Redis list under the lab's prefix, with wall-clock times
(``time.time()``; all processes share one clock). A demo reads the list back
and can then *show* a duplicate: two ``ran`` records for one task means the
model was called twice for it, which is the cost rule 4 is about.

Event kinds: ``start`` (worker registered), ``beat``, ``claim``, ``ran`` (the
model call returned: its side effect happened), ``finish`` (the fenced
completion: ``outcome`` done/stale), ``release`` (a graceful shutdown handed the
task back), ``signal``, ``exit``, ``dead`` (the recovery loop's verdict, with
``requeued`` tasks and ``latency_s``).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..redis.target import RedisTarget

KINDS = ("start", "beat", "claim", "ran", "finish", "release", "signal", "exit", "dead", "stopped",
         "heartbeat-stopped")


def events_key(target: RedisTarget) -> str:
    return target.key("events")


def make_event(kind: str, worker: str, **fields: Any) -> str:
    """One event as a JSON line; ``t`` is the wall-clock time it happened."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}; use one of {KINDS}")
    return json.dumps({"kind": kind, "worker": worker, "t": fields.pop("t", time.time()), **fields})


async def record(client: Any, target: RedisTarget, kind: str, worker: str, **fields: Any) -> None:
    """Append an event with a ``redis.asyncio`` client."""
    await client.rpush(events_key(target), make_event(kind, worker, **fields))


@dataclass(frozen=True)
class Event:
    kind: str
    worker: str
    t: float
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


def parse(lines: Iterable[str]) -> list[Event]:
    out = []
    for line in lines:
        raw = json.loads(line)
        out.append(Event(raw.pop("kind"), raw.pop("worker"), float(raw.pop("t")), raw))
    return sorted(out, key=lambda e: e.t)


async def read(client: Any, target: RedisTarget) -> list[Event]:
    return parse(await client.lrange(events_key(target), 0, -1))


def executions(events: Iterable[Event]) -> Counter[str]:
    """How many times the model call for each task completed (its side effect happened)."""
    return Counter(e.get("task") for e in events if e.kind == "ran")


def duplicate_executions(events: Iterable[Event]) -> int:
    """Model calls beyond the first, summed over tasks: 0 means no task ran twice."""
    return sum(n - 1 for n in executions(events).values() if n > 1)


def false_dead(events: Iterable[Event]) -> int:
    """Verdicts of "dead" on a worker that beat (or worked) again afterwards: it was alive."""
    events = list(events)
    count = 0
    for verdict in (e for e in events if e.kind == "dead"):
        if any(e.worker == verdict.worker and e.t > verdict.t and e.kind in ("beat", "ran", "finish", "exit")
               for e in events):
            count += 1
    return count
