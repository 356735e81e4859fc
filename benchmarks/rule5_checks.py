"""How long notebook 05's checks take to judge an answer, and whether the verdict is right.

Run ``python benchmarks/rule5_checks.py [--repeats N] [--busy N]``; ``--busy`` runs N busy-loop
processes alongside (a class sharing the machine). Each check signals real
worker processes (SIGTERM, SIGINT) against a real Redis, so its time is mostly
process start-up and waiting for the workers. Correct answers must pass and the
buggy ones must be rejected, every time. The last line printed is one JSON object:

- ``seconds``: per check and answer, the wall time of each repeat;
- ``verdicts_right``: how many verdicts were right, out of ``verdicts``;
- ``busy_processes`` and ``load_avg_1m``: the load added, and the machine's load average at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from labkit.exercises.framework import check

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
# the same answers the tests judge, two right and two wrong
from test_rule5_checks import add_handlers, graceful_wait, raw_signal_sets_event, waits_forever  # noqa: E402

CASES = [
    ("05.stop-handlers", "add_signal_handler", add_handlers, True),
    ("05.stop-handlers", "raw signal.signal", raw_signal_sets_event, False),
    ("05.graceful-worker", "wait with grace", graceful_wait, True),
    ("05.graceful-worker", "waits forever", waits_forever, False),
]


async def main(repeats: int) -> dict[str, object]:
    seconds: dict[str, list[float]] = {}
    right = 0
    for _ in range(repeats):
        for exercise, label, answer, correct in CASES:
            began = time.perf_counter()
            result = await check(exercise, answer)
            seconds.setdefault(f"{exercise} {label}", []).append(round(time.perf_counter() - began, 2))
            right += result.passed == correct
            if result.passed != correct:
                print(f"wrong verdict for {exercise} {label}: {result.message}")
    return {"seconds": seconds, "verdicts": repeats * len(CASES), "verdicts_right": right,
            "load_avg_1m": round(os.getloadavg()[0], 2)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", type=int, default=0, help="busy-loop processes to run alongside")
    args = parser.parse_args()
    os.environ.pop("LABKIT_CHECK_MODE", None)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        figures = asyncio.run(main(args.repeats))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print(json.dumps({**figures, "busy_processes": args.busy}))
