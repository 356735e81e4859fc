"""The document and task store on Redis: the domain of the racing-requeue demo.

A *document* is ingested by running its *tasks*. Its run state is RUNNING until
a worker finishes the last task (DONE) or the crash reconciler gives up on it
(FAIL). DONE and FAIL are terminal: only an explicit user retry
(:meth:`Store.retry`) puts a document back to RUNNING.

Every key sits under the :class:`~labkit.redis.target.RedisTarget` prefix::

    docs:running        set   ids of RUNNING documents
    doc:<id>            hash  state, total, done (progress), epoch (version)
    doc:<id>:pending    set   ids of its tasks not yet DONE
    doc:<id>:lease      str   worker id while a worker's heartbeat is fresh (PX TTL)
    task:<id>           hash  doc, state (QUEUED/RUNNING/DONE), epoch, worker
    queue               list  task ids waiting for a worker

``task.epoch`` is the fencing token of the current attempt: it goes up whenever
the task changes hands (a claim or a requeue), so a worker holding an older
epoch knows it has been replaced. ``doc.epoch`` is the document's version: the
fenced operations bump it on every change they make to the document or its
tasks, so a compare-and-set on it detects "something moved since I looked".

The helpers here read and build; they deliberately do *not* make the
reconciler's decisions, so the reconcilers in :mod:`labkit.tasks.reconcilers` can show
both the racy way and the atomic ways of writing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import redis.asyncio as aredis

from ..errors import LabError
from ..redis.target import RedisTarget

RUNNING, DONE, FAIL = "RUNNING", "DONE", "FAIL"
DOC_STATES = (RUNNING, DONE, FAIL)
QUEUED = "QUEUED"
TASK_STATES = (QUEUED, RUNNING, DONE)
TERMINAL = (DONE, FAIL)

_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class UnknownDocument(LabError, KeyError):
    """A document id that the store has never seen."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class UnknownTask(LabError, KeyError):
    """A task id that the store has never seen."""

    def __str__(self) -> str:
        return str(self.args[0])


class BadState(LabError, ValueError):
    """A state name that is not one of the store's states."""


class TerminalState(LabError):
    """An operation that would move a document out of DONE/FAIL without a retry."""


def check_id(kind: str, value: object) -> str:
    """Validate a document/task/worker id: a short word without ':' or spaces."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(
            f"{kind} id must be 1-64 characters of letters, digits, '_', '.' or '-', got {value!r}"
        )
    return value


def check_doc_state(state: object) -> str:
    """Return ``state`` if it is a document state, else raise :class:`BadState`."""
    if state not in DOC_STATES:
        raise BadState(f"{state!r} is not a document state; use one of {', '.join(DOC_STATES)}")
    return str(state)


def check_task_state(state: object) -> str:
    """Return ``state`` if it is a task state, else raise :class:`BadState`."""
    if state not in TASK_STATES:
        raise BadState(f"{state!r} is not a task state; use one of {', '.join(TASK_STATES)}")
    return str(state)


def task_id(doc_id: str, number: int) -> str:
    """The id of a document's ``number``-th task (1-based): ``task_id("d1", 2) == "d1-t2"``."""
    return f"{check_id('document', doc_id)}-t{int(number)}"


def doc_of(tid: str) -> str:
    """The document a task belongs to, from its id alone (no Redis round trip)."""
    doc, sep, number = check_id("task", tid).rpartition("-t")
    if not sep or not doc or not number.isdigit():
        raise ValueError(f"{tid!r} is not a task id like 'd1-t2' (see task_id())")
    return doc


@dataclass(frozen=True)
class Doc:
    """A document as read from Redis."""

    id: str
    state: str
    done: int
    total: int
    epoch: int
    pending: tuple[str, ...]


@dataclass(frozen=True)
class Task:
    """A task as read from Redis."""

    id: str
    doc: str
    state: str
    epoch: int
    worker: str


@dataclass(frozen=True)
class Claim:
    """What a worker holds while it runs a task: the task and its fencing token."""

    task: str
    doc: str
    epoch: int
    worker: str


@dataclass(frozen=True)
class TaskSpec:
    """How :meth:`Store.put_doc` lays out one task of a hand-built scenario."""

    state: str = QUEUED
    epoch: int = 0
    worker: str = ""
    queued: bool = field(default=False)


# Claim the head of the queue atomically: pop it, bump its epoch, hand it out.
_CLAIM = """
local tid = redis.call('LPOP', KEYS[1])
if not tid then return false end
local tkey = ARGV[1] .. 'task:' .. tid
local doc = redis.call('HGET', tkey, 'doc')
local epoch = redis.call('HINCRBY', tkey, 'epoch', 1)
redis.call('HSET', tkey, 'state', 'RUNNING', 'worker', ARGV[2])
redis.call('HINCRBY', ARGV[1] .. 'doc:' .. doc, 'epoch', 1)
return {tid, doc, epoch}
"""

# Explicit user retry: only a terminal document may be reset, and the reset
# (state, progress, tasks, queue) happens in one step.
_RETRY = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'unknown' end
if state == 'RUNNING' then return 'running' end
local total = tonumber(redis.call('HGET', KEYS[1], 'total'))
redis.call('HSET', KEYS[1], 'state', 'RUNNING', 'done', 0)
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('DEL', KEYS[2])
for i = 1, total do
  local tid = ARGV[2] .. '-t' .. i
  local tkey = ARGV[1] .. 'task:' .. tid
  redis.call('HINCRBY', tkey, 'epoch', 1)
  redis.call('HSET', tkey, 'state', 'QUEUED', 'worker', '')
  redis.call('SADD', KEYS[2], tid)
  redis.call('LREM', KEYS[4], 0, tid)
  redis.call('RPUSH', KEYS[4], tid)
end
return 'ok'
"""


class Store:
    """Documents, tasks and the work queue, on one ``redis.asyncio`` client.

    ``client`` may be any ``redis.asyncio.Redis`` (the explorer passes one whose
    commands it can schedule); ``target`` supplies the key prefix.
    """

    def __init__(self, client: aredis.Redis, target: RedisTarget) -> None:
        if not isinstance(target, RedisTarget):
            raise TypeError(f"target must be a RedisTarget (from redis_target()), got {type(target).__name__}")
        self.client = client
        self.target = target

    # -- keys ---------------------------------------------------------------
    @property
    def running_key(self) -> str:
        return self.target.key("docs", "running")

    @property
    def queue_key(self) -> str:
        return self.target.key("queue")

    def doc_key(self, doc_id: str) -> str:
        return self.target.key("doc", check_id("document", doc_id))

    def pending_key(self, doc_id: str) -> str:
        return self.target.key("doc", check_id("document", doc_id), "pending")

    def lease_key(self, doc_id: str) -> str:
        return self.target.key("doc", check_id("document", doc_id), "lease")

    def task_key(self, task: str) -> str:
        return self.target.key("task", check_id("task", task))

    # -- creating documents -------------------------------------------------
    async def create_doc(self, doc_id: str, n_tasks: int = 2) -> list[str]:
        """A new RUNNING document whose ``n_tasks`` tasks are all queued."""
        if not isinstance(n_tasks, int) or isinstance(n_tasks, bool) or not 1 <= n_tasks <= 10_000:
            raise ValueError(f"n_tasks must be an int from 1 to 10000, got {n_tasks!r}")
        tasks = [task_id(doc_id, i) for i in range(1, n_tasks + 1)]
        if await self.client.exists(self.doc_key(doc_id)):
            raise LabError(f"document {doc_id!r} already exists; pick another id or call retry() on it")
        await self.put_doc(doc_id, RUNNING, {t: TaskSpec(QUEUED, 0, "", True) for t in tasks})
        return tasks

    async def put_doc(
        self,
        doc_id: str,
        state: str,
        tasks: Mapping[str, TaskSpec],
        *,
        lease: str | None = None,
        lease_ms: int = 60_000,
        epoch: int = 0,
    ) -> None:
        """Write a document exactly as described: for building demo scenarios.

        Progress (``done``) and the pending set follow from the task states.
        """
        check_doc_state(state)
        if not tasks:
            raise ValueError("a document needs at least one task")
        expected = [task_id(doc_id, i) for i in range(1, len(tasks) + 1)]
        if sorted(tasks) != sorted(expected):
            raise ValueError(f"tasks of {doc_id!r} must be named {expected} (see task_id()), got {sorted(tasks)}")
        for tid, spec in tasks.items():
            check_id("task", tid)
            if not isinstance(spec, TaskSpec):
                raise TypeError(f"task {tid!r}: expected a TaskSpec, got {type(spec).__name__}")
            check_task_state(spec.state)
        done = sum(1 for s in tasks.values() if s.state == DONE)
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.doc_key(doc_id), mapping={
                "state": state, "total": len(tasks), "done": done, "epoch": epoch})
            pipe.delete(self.pending_key(doc_id))
            for tid, spec in tasks.items():
                pipe.hset(self.task_key(tid), mapping={
                    "doc": doc_id, "state": spec.state, "epoch": spec.epoch, "worker": spec.worker})
                if spec.state != DONE:
                    pipe.sadd(self.pending_key(doc_id), tid)
                if spec.queued:
                    pipe.rpush(self.queue_key, tid)
            if state == RUNNING:
                pipe.sadd(self.running_key, doc_id)
            else:
                pipe.srem(self.running_key, doc_id)
            if lease is not None:
                pipe.set(self.lease_key(doc_id), check_id("worker", lease), px=lease_ms)
            await pipe.execute()

    # -- reading ------------------------------------------------------------
    async def doc(self, doc_id: str) -> Doc:
        """Read one document; raises :class:`UnknownDocument` if there is none."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self.doc_key(doc_id))
            pipe.smembers(self.pending_key(doc_id))
            fields, pending = await pipe.execute()
        if not fields:
            raise UnknownDocument(f"no document {doc_id!r} under prefix {self.target.prefix!r}")
        return Doc(doc_id, fields.get("state", ""), int(fields.get("done", 0)), int(fields.get("total", 0)),
                   int(fields.get("epoch", 0)), tuple(sorted(pending)))

    async def task(self, tid: str) -> Task:
        """Read one task; raises :class:`UnknownTask` if there is none."""
        fields = await self.client.hgetall(self.task_key(tid))
        if not fields:
            raise UnknownTask(f"no task {tid!r} under prefix {self.target.prefix!r}")
        return Task(tid, fields["doc"], fields["state"], int(fields.get("epoch", 0)), fields.get("worker", ""))

    async def queue(self) -> list[str]:
        """Task ids waiting in the work queue, head first."""
        return await self.client.lrange(self.queue_key, 0, -1)

    async def orphaned_docs(self, client: Any = None) -> list[str]:
        """RUNNING documents whose worker heartbeat (lease) has lapsed.

        Two separate commands, like the incident's lookups; pass ``client`` (for
        example a WATCHing pipeline) to run them there.
        """
        c = client if client is not None else self.client
        docs = sorted(await c.smembers(self.running_key))
        orphaned = []
        for d in docs:
            if not await c.exists(self.lease_key(d)):
                orphaned.append(d)
        return orphaned

    async def incomplete_tasks(self, doc_id: str, client: Any = None) -> dict[str, str]:
        """The document's tasks that are not DONE, with their state (one read each)."""
        c = client if client is not None else self.client
        tasks = sorted(await c.smembers(self.pending_key(doc_id)))
        return {t: (await c.hget(self.task_key(t), "state")) or "" for t in tasks}

    # -- building writes into a pipeline -------------------------------------
    def add_requeue(self, pipe: Any, doc_id: str, tid: str) -> None:
        """Queue the commands that hand ``tid`` back to the queue under a new epoch.

        ``pipe`` is a ``redis.asyncio`` pipeline (after ``multi()`` when WATCHing);
        nothing is sent until you ``await pipe.execute()``.
        """
        pipe.hincrby(self.task_key(tid), "epoch", 1)
        pipe.hset(self.task_key(tid), mapping={"state": QUEUED, "worker": ""})
        pipe.rpush(self.queue_key, tid)
        pipe.hincrby(self.doc_key(doc_id), "epoch", 1)

    def add_finish(self, pipe: Any, doc_id: str, state: str) -> None:
        """Queue the commands that set a document's terminal state (DONE or FAIL)."""
        if check_doc_state(state) not in TERMINAL:
            raise BadState(f"add_finish() sets DONE or FAIL, not {state!r}; use retry() to restart a document")
        pipe.hset(self.doc_key(doc_id), "state", state)
        pipe.srem(self.running_key, doc_id)
        pipe.hincrby(self.doc_key(doc_id), "epoch", 1)

    # -- worker-side operations ----------------------------------------------
    async def claim(self, worker: str) -> Claim | None:
        """Take the next queued task (atomically); ``None`` when the queue is empty."""
        check_id("worker", worker)
        got = await self.client.eval(_CLAIM, 1, self.queue_key, self.target.prefix, worker)
        if not got:
            return None
        tid, doc, epoch = got
        return Claim(str(tid), str(doc), int(epoch), worker)

    async def heartbeat(self, doc_id: str, worker: str, ttl_ms: int = 3000) -> None:
        """Refresh the worker's lease on a document; it lapses ``ttl_ms`` after the last beat."""
        if not isinstance(ttl_ms, int) or ttl_ms <= 0:
            raise ValueError(f"ttl_ms must be a positive int, got {ttl_ms!r}")
        await self.client.set(self.lease_key(doc_id), check_id("worker", worker), px=ttl_ms)

    async def retry(self, doc_id: str) -> None:
        """The explicit user retry: reset a DONE/FAIL document and requeue all its tasks."""
        keys = (self.doc_key(doc_id), self.pending_key(doc_id), self.running_key, self.queue_key)
        outcome = await self.client.eval(_RETRY, len(keys), *keys, self.target.prefix, doc_id)
        if outcome == "unknown":
            raise UnknownDocument(f"no document {doc_id!r} under prefix {self.target.prefix!r}")
        if outcome == "running":
            raise TerminalState(f"document {doc_id!r} is still RUNNING; only a DONE or FAIL document can be retried")


def describe_docs(docs: Iterable[Doc]) -> str:
    """One line per document, for printing in a notebook."""
    return "\n".join(f"{d.id}: {d.state} {d.done}/{d.total} epoch={d.epoch} pending={list(d.pending)}" for d in docs)
