"""How long notebook 05's checks take to judge an answer, and whether the verdict is right.

Run ``python benchmarks/rule5_checks.py [--repeats N]``. Each check signals real
worker processes (SIGTERM, SIGINT) against a real Redis, so its time is mostly
process start-up and waiting for the workers. Correct answers must pass and the
buggy ones must be rejected, every time. The last line printed is one JSON object:

- ``seconds``: per check and answer, the wall time of each repeat;
- ``verdicts_right``: how many verdicts were right, out of ``verdicts``;
- ``load_avg_1m``: the machine's load average when the run ended (2 cores here).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time

from labkit.exercises.framework import check

HANDLERS = """
def install_stop_handlers(loop, stop):
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
"""

RAW_SIGNAL = """
def install_stop_handlers(loop, stop):
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
"""

GRACEFUL = """
async def run_worker(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        job = asyncio.create_task(worker.execute(claim))
        stopping = asyncio.create_task(worker.stop.wait())
        await asyncio.wait({job, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not job.done():
            await asyncio.wait({job}, timeout=worker.grace_s)
        if not job.done():
            await worker.release(claim)
            job.cancel()
"""

WAITS_FOREVER = """
async def run_worker(worker):
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop.set)
    while not worker.stop.is_set():
        claim = await worker.claim()
        if claim is None:
            await asyncio.sleep(0.05)
            continue
        await worker.execute(claim)
"""

CASES = [
    ("05.stop-handlers", "add_signal_handler", "import signal\n" + HANDLERS, True),
    ("05.stop-handlers", "raw signal.signal", "import signal\n" + RAW_SIGNAL, False),
    ("05.graceful-worker", "wait with grace", "import asyncio, signal\n" + GRACEFUL, True),
    ("05.graceful-worker", "waits forever", "import asyncio, signal\n" + WAITS_FOREVER, False),
]


async def main(repeats: int) -> dict[str, object]:
    seconds: dict[str, list[float]] = {}
    right = 0
    for _ in range(repeats):
        for exercise, label, source, correct in CASES:
            began = time.perf_counter()
            result = await check(exercise, source)
            seconds.setdefault(f"{exercise} {label}", []).append(round(time.perf_counter() - began, 2))
            right += result.passed == correct
            if result.passed != correct:
                print(f"wrong verdict for {exercise} {label}: {result.message}")
    return {"seconds": seconds, "verdicts": repeats * len(CASES), "verdicts_right": right,
            "load_avg_1m": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    os.environ.pop("LABKIT_CHECK_MODE", None)
    print(json.dumps(asyncio.run(main(parser.parse_args().repeats))))
