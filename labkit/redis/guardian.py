"""Guardian that ties a Redis server's life to the process that asked for it.

Run as ``python -I guardian.py LOGFILE <server argv...>``. It starts the
server with its output appended to LOGFILE (so start-up errors that Redis only
prints to stderr reach the log too),
prints its pid, then waits for end-of-file on stdin. The parent holds the other
end of that pipe, so EOF arrives when the parent stops it or dies (even by
``kill -9``); the guardian then stops the server and exits. Standard library
only, so it starts in a few milliseconds.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading

PR_SET_PDEATHSIG = 1


def _die_with_guardian() -> None:
    """On Linux, have the kernel kill the server if the guardian itself is killed."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def main(argv: list[str]) -> int:
    log_path, argv = argv[0], argv[1:]
    with open(log_path, "ab") as log:
        try:
            server = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_guardian,
            )
        except OSError as exc:
            log.write(f"cannot run {argv[0]}: {exc}\n".encode())
            sys.stdout.write("0\n")
            return 1

    stopping = threading.Event()

    def stop_and_clean() -> None:
        stopping.set()
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=3)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        # An owner killed by SIGKILL cannot remove the server's directory; do it for them.
        directory = os.path.dirname(os.path.abspath(log_path))
        if os.path.basename(directory).startswith("labkit-redis-"):
            shutil.rmtree(directory, ignore_errors=True)

    def exit_with_server() -> None:
        # A server that dies on its own takes the guardian with it, so the parent
        # sees the failure at once; its directory stays so the parent can read the log.
        code = server.wait()
        if not stopping.is_set():
            os._exit(code if code > 0 else 1)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda *_: (stop_and_clean(), os._exit(0)))  # labkit: ignore[R5] the guardian's only work is the server it has just stopped
    # Report the pid first: a server that dies at once must not take the guardian
    # down before the parent knows it was launched (it would blame the launch).
    sys.stdout.write(f"{server.pid}\n")
    sys.stdout.flush()
    threading.Thread(target=exit_with_server, daemon=True).start()
    while sys.stdin.buffer.read(4096):
        pass
    stop_and_clean()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
