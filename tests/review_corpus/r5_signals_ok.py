# expect: none
"""R5 negative: loops whose process handles SIGTERM/SIGINT explicitly."""
import signal
import sys
import time


def serve(step) -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    while True:
        step()


def run_worker(step) -> None:
    try:
        while True:
            step()
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping cleanly")
