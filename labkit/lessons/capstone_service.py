"""The capstone's task-executor service, as source text: it breaks all five rules.

``BROKEN_EXECUTOR`` is a small but realistic service of the kind the lab's
incidents came from: workers claim tasks from Redis, ask a (sync) LLM client for
each, beat a heartbeat, log an audit line per task, and a crash reconciler fails
documents whose worker went quiet. It is only ever *read*: by the reviewer
(notebook 06 shows its findings) and by the learner, who fixes it piece by piece.
Nothing here imports or runs it.

``PIECES`` names the functions the learner rewrites, with the rule each breaks,
and :func:`piece_source` cuts one out, so a notebook can show it next to the
finding and a checker can compare. :func:`assemble` puts the learner's fixed
pieces back into the service, so the reviewer can confirm the whole of it.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import LabError
from ..review import Review, review_source

FILENAME = "taskexec.py"

BROKEN_EXECUTOR = '''\
"""taskexec: claim tasks from Redis, summarise each with the LLM, recover crashed work.

Run it with `python taskexec.py`; scale it by starting more copies.
"""
import asyncio
import time

import redis

from labkit import llm

SYSTEM_MSG = "You summarise one ingested document chunk."
TTL_S = 1.0
r = redis.Redis(decode_responses=True)


async def handle(system_msg, history, conf):
    """Ask the model about one task."""
    return llm.chat(system_msg, history, conf)


async def record_audit(log, event):
    """Append one event to the audit trail (called from the sync completion hook)."""
    log.append(event)


def on_task_done(log, task):
    """The completion hook the queue library calls synchronously."""
    record_audit(log, f"done {task}")


def start_heartbeat(beat, interval_s):
    """Call beat() (one Redis round trip) every interval_s seconds; return a function that stops it."""
    async def beating():
        while True:
            beat()
            time.sleep(interval_s)

    asyncio.get_running_loop().create_task(beating())
    return lambda: None


async def reconcile(store):
    """Run by a cron job: fail documents whose worker died with no task left, requeue the rest."""
    for doc in await store.orphaned_docs():
        tasks = await store.incomplete_tasks(doc)
        if not tasks:
            await store.client.hset(store.doc_key(doc), "state", "FAIL")
            await store.client.srem(store.running_key, doc)
            continue
        for tid, state in tasks.items():
            if state == "RUNNING":
                async with store.client.pipeline(transaction=True) as pipe:
                    store.add_requeue(pipe, doc, tid)
                    await pipe.execute()


async def run_worker(worker):
    """Claim tasks and run them, forever."""
    while True:
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        await worker.execute(claim)


async def main(worker):
    stop_beating = start_heartbeat(lambda: r.set(f"hb:{worker.id}", time.time(), px=int(TTL_S * 1000)), TTL_S / 3)
    try:
        await run_worker(worker)
    finally:
        stop_beating()


if __name__ == "__main__":
    import sys

    from labkit.tasks.worker import Worker, WorkerConfig

    asyncio.run(main(Worker(WorkerConfig(id=sys.argv[1]))))
'''


@dataclass(frozen=True)
class Piece:
    """One function of the service that the learner fixes, and the rule it breaks."""

    name: str
    rules: tuple[str, ...]
    exercise: str
    what: str


PIECES: dict[str, Piece] = {
    "handle": Piece("handle", ("R1",), "06.handle", "the model call runs on the event loop"),
    "record_audit": Piece("record_audit", ("R2",), "06.audit", "an async def that only sync code calls"),
    "reconcile": Piece("reconcile", ("R3",), "06.reconcile", "check-then-act turns DONE into FAIL"),
    "start_heartbeat": Piece("start_heartbeat", ("R1", "R4", "R5"), "06.heartbeat",
                             "heartbeats paced by a blocking sleep on the worker's loop, never stopped"),
    "run_worker": Piece("run_worker", ("R5",), "06.shutdown", "a worker loop nothing can stop"),
}


def _functions(source: str) -> dict[str, ast.AST]:
    tree = ast.parse(source)
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def piece_source(name: str, source: str = BROKEN_EXECUTOR) -> str:
    """The source of one top-level function of the service (default: the broken one)."""
    found = _functions(source).get(name)
    if found is None:
        raise LabError(f"the service has no function {name!r}; its pieces are {', '.join(PIECES)}")
    return ast.get_source_segment(source, found) or ""


def review_broken() -> Review:
    """What the reviewer says about the broken service (every rule is in it)."""
    return review_source(BROKEN_EXECUTOR, FILENAME)


def function_at(line: int, source: str = BROKEN_EXECUTOR) -> str:
    """The top-level function that contains ``line`` (``""`` for module level)."""
    for name, node in _functions(source).items():
        if node.lineno <= line <= (node.end_lineno or node.lineno):
            return name
    return ""


def findings_by_function(review: Review, source: str = BROKEN_EXECUTOR) -> dict[str, set[str]]:
    """Rule -> the functions where the reviewer found it: what exercise ``06.find`` expects."""
    out: dict[str, set[str]] = {}
    for finding in review:
        out.setdefault(finding.rule, set()).add(function_at(finding.line, source) or "<module>")
    return out


def source_of(answer: Any, name: str) -> str:
    """The source of a learner's piece (a function, or its source as a string)."""
    if isinstance(answer, str):
        return textwrap.dedent(answer)
    try:
        return textwrap.dedent(inspect.getsource(answer))
    except (OSError, TypeError):
        raise LabError(f"could not read the source of {name}; define it with `def` in a cell") from None


def _assemble(pieces: Mapping[str, Any], source: str) -> tuple[str, dict[str, tuple[int, int]]]:
    replacements: dict[str, str] = {}
    for name, answer in pieces.items():
        if name not in PIECES:
            raise LabError(f"{name!r} is not a piece of the service; the pieces are {', '.join(PIECES)}")
        replacements[name] = source_of(answer, name).rstrip() + "\n"
    lines = source.splitlines(keepends=True)
    spans = sorted((n.lineno, n.end_lineno or n.lineno, name) for name, n in _functions(source).items()
                   if name in replacements)
    out: list[str] = []
    where: dict[str, tuple[int, int]] = {}
    done = 0
    for first, last, name in spans:
        out.extend(lines[done : first - 1])
        new = replacements[name].splitlines(keepends=True)
        where[name] = (len(out) + 1, len(out) + len(new))
        out.extend(new)
        done = last
    out.extend(lines[done:])
    return "".join(out), where


def assemble(pieces: Mapping[str, Any], source: str = BROKEN_EXECUTOR) -> str:
    """The service with some functions replaced by the learner's (functions or source strings).

    A replacement may bring helpers with it (more top-level code); they go where the
    old function was. ``main`` and the rest of the service stay as they were.
    """
    return _assemble(pieces, source)[0]


def review_assembled(pieces: Mapping[str, Any]) -> Review:
    """Review the service with the learner's pieces in place (all five: no findings)."""
    return review_source(assemble(pieces), FILENAME)


def review_piece(name: str, answer: Any) -> Review:
    """Review one fixed piece *inside* the service, so its callers count (R2), keeping
    only the findings that fall in the piece itself."""
    text, where = _assemble({name: answer}, BROKEN_EXECUTOR)
    first, last = where[name]
    review = review_source(text, FILENAME)
    return Review([f for f in review if first <= f.line <= last], review.files)
