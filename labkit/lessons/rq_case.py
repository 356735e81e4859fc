"""A race in the wild: RQ's abandoned-job cleanup against its own job completion.

`RQ <https://python-rq.org>`_ is a widely used Redis job queue whose workers and
registries use the sync redis-py client. When a worker stops heart-beating, a
periodic ``StartedJobRegistry.cleanup()`` treats its jobs as abandoned: it reads
the expired registry entries, reads each job, checks that its status is still
``started``, and then - in a later MULTI/EXEC - marks it ``failed``. If the worker
was only slow and its ``handle_job_success()`` commits between that check and
that write, a finished job ends ``failed`` (and sits in both the finished and the
failed registry): the lab's DONE -> FAIL, in a real library.

The scenario runs RQ's own code, unmodified, under the explorer: the worker actor
calls ``Worker.handle_job_success`` and the cleanup actor calls
``StartedJobRegistry.cleanup``, each in a thread with a sync stepped client.
``setup`` puts the job where a worker that took it and then went quiet leaves it.
RQ is not copied here: the pinned release is imported if installed (it is a
declared dependency), or fetched from PyPI into ``~/.cache/labkit-bench/`` at run time,
with ``RQ_KEY_PREFIX`` set so that every key it writes sits under the lab's prefix.

The minimal fix, :func:`watched_cleanup`: WATCH the job's key before reading its
status, so the failure write aborts if the job changed in between.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Optional

from ..instruments.explorer import Explorer, RunResult
from ..redis.target import RedisTarget

RQ_VERSION = "3.0.0"
NOW = 1_700_000_000  # the cleanup's cut-off: the worker's registry entry expired 10 s before it
CACHE_ENV = "LABKIT_BENCH_CACHE"


def cache_dir() -> Path:
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "labkit-bench")
    return root / f"rq-{RQ_VERSION}-site"


def _imported_version() -> Optional[str]:
    try:
        import rq
    except ImportError:
        return None
    return getattr(rq, "__version__", None)


def key_prefix(target: RedisTarget) -> str:
    """The RQ_KEY_PREFIX that puts every key RQ writes under ``target``'s prefix (a shared server, ACLs)."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "-", target.prefix) + "rq"


def _fits(module: ModuleType, prefix: str, prefer_cache: bool) -> bool:
    defaults = sys.modules.get("rq.defaults")
    return (getattr(module, "__version__", None) == RQ_VERSION
            and getattr(defaults, "RQ_KEY_PREFIX", None) == prefix
            and (not prefer_cache or str(cache_dir()) in str(getattr(module, "__file__", ""))))


def _import_rq(prefix: str) -> ModuleType:
    """Import rq afresh with RQ_KEY_PREFIX set: rq reads it once, when it is imported."""
    for name in [m for m in sys.modules if m == "rq" or m.startswith("rq.")]:
        del sys.modules[name]
    saved = os.environ.get("RQ_KEY_PREFIX")
    os.environ["RQ_KEY_PREFIX"] = prefix
    try:
        return importlib.import_module("rq")
    finally:
        if saved is None:
            os.environ.pop("RQ_KEY_PREFIX", None)
        else:
            os.environ["RQ_KEY_PREFIX"] = saved


def load_rq(fetch: bool = True, prefer_cache: bool = False, prefix: str = "rq") -> Optional[ModuleType]:
    """RQ at the pinned release, its keys under ``prefix``: installed, else from the cache, else fetched
    with pip into the cache.

    ``prefer_cache=True`` (the benchmark) uses the copy fetched from PyPI even when
    one is installed. Returns ``None`` when it cannot be had (offline, no pip):
    callers say so and carry on.
    """
    loaded = sys.modules.get("rq")
    if loaded is not None and _fits(loaded, prefix, prefer_cache):
        return loaded
    if not prefer_cache and _imported_version() == RQ_VERSION:
        module = _import_rq(prefix)
        if _fits(module, prefix, False):
            return module
    target = cache_dir()
    if not (target / "rq").is_dir() and fetch:
        try:
            subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                            "--no-deps", "--target", str(target), f"rq=={RQ_VERSION}"],
                           check=True, capture_output=True, timeout=120)
        except (OSError, subprocess.SubprocessError):
            return None
    if not (target / "rq").is_dir():
        return None
    if str(target) not in sys.path:
        sys.path.insert(0, str(target))  # ahead of any other release
    module = _import_rq(prefix)
    return module if _fits(module, prefix, prefer_cache) else None


class RQCase:
    """Names of one scenario's queue, job and worker; RQ's keys sit under the target's prefix."""

    def __init__(self, target: RedisTarget) -> None:
        self.target = target
        self.queue = "q"
        self.job_id = "job1"
        self.worker = "w1"
        self.job_key = f"{key_prefix(target)}:job:{self.job_id}"

    # -- the starting state: a worker took job1, then its heartbeat lapsed --------------------
    def setup(self, client: Any) -> None:
        from rq import Queue
        from rq.executions import Execution, ExecutionRegistry

        queue = Queue(self.queue, connection=client)
        job = queue.enqueue("builtins.len", "abc", job_id=self.job_id)
        queue.pop_job_id()  # the worker took it off the queue
        execution = Execution(id="e1", job_id=job.id, connection=client, worker_name=self.worker)
        execution._job = job
        with client.pipeline() as pipe:  # as rq.executions.prepare_execution, with a fixed execution id
            execution.save(ttl=60, pipeline=pipe)
            ExecutionRegistry(job_id=job.id, connection=pipe).add(execution=execution, ttl=60, pipeline=pipe)
            job.started_job_registry.add_execution(execution, pipeline=pipe, ttl=60, xx=False)
            job.prepare_for_execution(self.worker, pipeline=pipe)
            pipe.execute()
        client.zadd(job.started_job_registry.key, {execution.composite_key: NOW - 10})

    # -- the two actors: RQ's own code -----------------------------------------------------
    def finish(self, client: Any) -> str:
        """The worker: RQ's ``Worker.handle_job_success`` for job1."""
        from rq import Queue, Worker
        from rq.executions import Execution
        from rq.job import Job

        queue = Queue(self.queue, connection=client)
        job = Job.fetch(self.job_id, connection=client)
        job.ended_at = job.started_at
        worker = Worker([queue], connection=client, name=self.worker)
        execution = Execution.fetch("e1", job.id, connection=client)
        worker.handle_job_success(job, queue, job.started_job_registry, execution)
        return str(job.get_status(refresh=False).value)

    def cleanup(self, client: Any) -> None:
        """The sweeper: RQ's ``StartedJobRegistry.cleanup``."""
        from rq.registry import StartedJobRegistry

        StartedJobRegistry(self.queue, connection=client).cleanup(timestamp=NOW)

    def fixed_cleanup(self, client: Any) -> None:
        """The sweeper with the minimal fix (see :func:`watched_cleanup`)."""
        from rq.registry import StartedJobRegistry

        watched_cleanup(StartedJobRegistry(self.queue, connection=client), NOW)

    # -- the invariant ------------------------------------------------------------------------
    def status(self, state: Any) -> Optional[str]:
        return (state.get(self.job_key) or {}).get("status")

    def finished_stays_finished(self, run: RunResult) -> Optional[str]:
        """A job that finished is never marked failed afterwards."""
        statuses = [self.status(s) for s in run.states]
        for i in range(1, len(statuses)):
            if statuses[i - 1] == "finished" and statuses[i] != "finished":
                step = run.steps[i - 1] if run.steps and i - 1 < len(run.steps) else None
                where = f" at step {step.index} ({step.actor})" if step else ""
                return f"job1 finished, then went finished -> {statuses[i]}{where}"
        if run.result("worker") == "finished" and statuses[-1] != "finished":
            return f"the worker finished job1, but it ended {statuses[-1]}"
        return None


def watched_cleanup(registry: Any, timestamp: float) -> int:
    """StartedJobRegistry.cleanup's no-retry path, with the fix: WATCH the job before reading its status.

    If the worker's completion commits between the status check and the
    failure write, EXEC aborts (WatchError) and the job is left to the next
    sweep, which sees it finished. Returns how many jobs it marked failed.
    """
    from redis.exceptions import WatchError
    from rq.job import Job, JobStatus
    from rq.job_lifecycle import record_job_failure

    failed = 0
    for job_id in registry.get_expired_job_ids(timestamp):
        with registry.connection.pipeline() as pipe:
            try:
                pipe.watch(Job.key_for(job_id))
                job = Job.fetch(job_id, connection=pipe)
                if job.get_status(refresh=False) != JobStatus.STARTED:
                    continue
                pipe.multi()
                record_job_failure(job, "abandoned: its worker stopped heart-beating", pipe)
                pipe.zremrangebyscore(registry.key, 0, timestamp)
                pipe.execute()
                failed += 1
            except WatchError:
                continue
    return failed


def scenario(target: RedisTarget, fixed: bool = False, *, prefer_cache: bool = False, **options: Any) -> Explorer:
    """The explorer on RQ's cleanup vs completion (``fixed=True``: with :func:`watched_cleanup`).

    RQ is (re)imported with its keys under ``target``'s prefix, so the scenario
    touches nothing else on a shared server.
    """
    if load_rq(prefer_cache=prefer_cache, prefix=key_prefix(target)) is None:
        raise RuntimeError(f"rq {RQ_VERSION} is not installed and could not be fetched: pip install rq=={RQ_VERSION}")
    logging.getLogger("rq").setLevel(logging.ERROR)  # its "moved to FailedJobRegistry" warnings are the finding
    case = RQCase(target)
    cleanup = case.fixed_cleanup if fixed else case.cleanup
    return Explorer(target, {"worker": case.finish, "cleanup": cleanup}, setup=case.setup,
                    invariants=case.finished_stays_finished, client_options={"decode_responses": False},
                    clock=float(NOW), name=f"rq {RQ_VERSION} {'watched ' if fixed else ''}cleanup vs completion",
                    **options)


def timeline(run: RunResult, target: RedisTarget) -> str:
    """One line per step: who, what (cut to fit), and job1's status after it - the trace, for a notebook."""
    case = RQCase(target)
    lines = [f"schedule {run.schedule_id}: {run.message or 'every invariant holds'}"]
    for s in run.steps:
        label = s.label if len(s.label) <= 58 else s.label[:55] + "..."
        lines.append(f"{s.index:>3}. {s.actor:<8} {label:<58}  job1 {case.status(s.state)}")
    return "\n".join(lines)
