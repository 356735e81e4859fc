"""What a class costs on one machine: 1, 2, 4 and 8 learners running notebook 01 at once.

Each learner is a fresh kernel that starts the lab's private Redis (as any lab
notebook does on first use) and then runs the solution notebook 01, all learners
at the same moment. Measured per learner: peak memory of the kernel and of its
Redis (the server plus its guardian), as RSS and as PSS (RSS with shared pages
split between the processes that share them, the fair figure for sizing), how
long notebook 01 took relative to a lone learner, how long the Redis took to
answer PING, and how many of the notebook's checks passed (its answers are all
correct: a rejection under load is the timing checks misjudging a busy machine).
Prints one JSON object on its last line.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import threading
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "solutions" / "01-stalled-loop.ipynb"
CLASS_SIZES = (1, 2, 4, 8)
MB = 1 << 20

BEFORE = """
import json, os, time
from labkit.redis.server import shared_server
_class_redis = shared_server()
_class_began = time.perf_counter()
"""
AFTER = """
print(json.dumps({"kernel_pid": os.getpid(), "redis_start_s": _class_redis.started_in_s,
                  "notebook_s": time.perf_counter() - _class_began}))
"""


def is_redis(process: psutil.Process) -> bool:
    line = " ".join(process.cmdline())
    return "guardian.py" in line or "redis-server" in line or "valkey-server" in line


class MemorySampler(threading.Thread):
    """Peak memory of each kernel's process tree (the kernel, its pool workers, its Redis)."""

    def __init__(self, every_s: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.every_s = every_s
        self.peaks: dict[int, dict[str, float]] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        for kernel in psutil.Process().children():
            totals = {"kernel_rss": 0.0, "kernel_pss": 0.0, "redis_rss": 0.0, "redis_pss": 0.0}
            try:
                for process in (kernel, *kernel.children(recursive=True)):
                    part = "redis" if is_redis(process) else "kernel"
                    info = process.memory_full_info()
                    totals[f"{part}_rss"] += info.rss / MB
                    totals[f"{part}_pss"] += info.pss / MB
            except psutil.Error:  # a process ended mid-sample
                continue
            peak = self.peaks.setdefault(kernel.pid, dict.fromkeys(totals, 0.0))
            for key, value in totals.items():
                peak[key] = max(peak[key], value)

    def run(self) -> None:
        while not self.done.wait(self.every_s):
            self.sample()


def read_verdicts(progress: Path) -> list[bool]:
    """Each check's verdict, from the file ``LABKIT_PROGRESS_FILE`` names."""
    return [json.loads(line)["passed"] for line in progress.read_text().splitlines()] if progress.exists() else []


async def one_learner(progress: Path) -> dict:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(BEFORE))
    nb.cells.append(nbformat.v4.new_code_cell(AFTER))
    env = {**os.environ, "LABKIT_PROGRESS_FILE": str(progress)}
    env.pop("LABKIT_CHECK_MODE", None)  # checks show their verdicts; they do not stop the run
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    await client.async_execute(env=env)
    figures = json.loads(nb.cells[-1].outputs[-1]["text"].strip().splitlines()[-1])
    verdicts = await asyncio.to_thread(read_verdicts, progress)
    return {**figures, "checks": len(verdicts), "checks_passed": sum(verdicts)}


async def a_class(size: int, scratch: Path) -> dict:
    sampler = MemorySampler()
    sampler.start()
    try:
        learners = await asyncio.gather(*(one_learner(scratch / f"progress-{size}-{i}.jsonl") for i in range(size)))
    finally:
        sampler.done.set()
        sampler.join()
    memory = [sampler.peaks[learner["kernel_pid"]] for learner in learners if learner["kernel_pid"] in sampler.peaks]
    per_learner = {key: round(statistics.mean(m[key] for m in memory), 1) for key in memory[0]} if memory else {}
    seconds = [learner["notebook_s"] for learner in learners]
    starts = [learner["redis_start_s"] for learner in learners]
    return {
        "learners": size,
        "notebook_01_s_mean": round(statistics.mean(seconds), 2),
        "notebook_01_s_max": round(max(seconds), 2),
        "redis_start_s_median": round(statistics.median(starts), 3),
        "redis_start_s_max": round(max(starts), 3),
        "peak_mb_per_learner": per_learner,
        "checks_passed": f"{sum(lr['checks_passed'] for lr in learners)}/{sum(lr['checks'] for lr in learners)}",
    }


def main() -> None:
    load_before = os.getloadavg()
    runs = []
    with tempfile.TemporaryDirectory(prefix="labkit-class-") as scratch:
        for size in CLASS_SIZES:
            runs.append(asyncio.run(a_class(size, Path(scratch))))
            print(json.dumps(runs[-1]), flush=True)
    lone = runs[0]["notebook_01_s_mean"]
    for run in runs:
        run["notebook_01_vs_lone"] = round(run["notebook_01_s_mean"] / lone, 2)
    print(json.dumps({
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "classes": runs,
    }))


if __name__ == "__main__":
    main()
