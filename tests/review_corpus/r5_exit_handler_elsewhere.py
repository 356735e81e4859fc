# expect: R5:8 R5:12
"""R5 positive: a handler installed elsewhere ends the process at once, so the loop is cut mid-step."""
import os
import signal


def install_handlers() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))  # want: R5


def worker_loop(step) -> None:
    while True:  # want: R5
        step()
