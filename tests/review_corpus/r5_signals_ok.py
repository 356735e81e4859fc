# expect: none
"""R5 negative: loops whose process handles SIGTERM/SIGINT explicitly."""
import signal
import time


def serve(step, stop) -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    while True:
        if stop.is_set():
            break
        step()


def run_worker(step) -> None:
    try:
        while True:
            step()
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping cleanly")
