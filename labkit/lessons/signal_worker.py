"""A tiny worker process for notebook 02's signal demo (never run inside the kernel).

``python -m labkit.lessons.signal_worker stop-event`` installs a plain callable as its
SIGTERM handler, which sets a stop event: the loop finishes its current step
and exits cleanly. ``python -m labkit.lessons.signal_worker async-handler`` hands an
``async def`` to ``signal.signal``: on SIGTERM Python calls it, gets a
coroutine back, drops it, and the worker never hears that it should stop.
"""

from __future__ import annotations

import asyncio
import signal
import sys

STEP_S = 0.05


async def main(mode: str) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    if mode == "stop-event":
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    elif mode == "async-handler":

        async def on_sigterm(signum: int, frame: object) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_sigterm)  # labkit: ignore[R2] - the mistake this demo shows
    else:
        print(f"unknown mode {mode!r}; use stop-event or async-handler", file=sys.stderr)
        return 2
    steps = 0
    print("ready", flush=True)
    while not stop.is_set():
        steps += 1
        await asyncio.sleep(STEP_S)
    print(f"stopped cleanly after {steps} steps", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "")))
