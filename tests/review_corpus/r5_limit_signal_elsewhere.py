# expect: none
# known-limits: extra:R5:13
"""R5 known limit: the signal handling is installed by another function (a false positive)."""
import os
import signal


def install_handlers() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))


def worker_loop(step) -> None:
    while True:  # flagged, though install_handlers() makes SIGTERM end the process
        step()
