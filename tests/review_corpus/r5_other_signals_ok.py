# expect: none
"""R5 negative: a SIGCHLD handler reaping children without blocking is not a shutdown handler."""
import os
import signal


def reap(signum, frame) -> None:
    while True:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return


def install() -> None:
    signal.signal(signal.SIGCHLD, reap)
