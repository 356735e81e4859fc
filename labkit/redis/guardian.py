"""Guardian that ties a Redis server's life to the process that asked for it.

Run as ``python -I guardian.py --new PARENT NAME-PREFIX <server argv...>`` (make
a fresh directory) or ``--dir DIRECTORY`` (reuse one, for a restart); ``{dir}``
in the server's argv stands for that directory. The guardian makes the
directory itself, so an owner killed at any moment of start-up never leaves one
behind: whatever the guardian has made, it removes when the owner is gone.

It starts the server with its output appended to ``redis.log`` (so start-up
errors that Redis only prints to stderr reach the log too), writes its own
record ``guardian.pid`` (its pid and the server's) into the directory, prints
``<server pid> <directory>``, then waits for end-of-file on stdin. The parent
holds the other end of that pipe, so EOF arrives when the parent stops it or
dies (even by ``kill -9``); the guardian then stops the server, removes the
directory and exits. Its working directory is the server's directory, which is
how ``labkit reset`` recognises it. Standard library only, so it starts in a
few milliseconds.
"""

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

PR_SET_PDEATHSIG = 1
RECORD = "guardian.pid"


def _die_with_guardian() -> None:
    """On Linux, have the kernel kill the server if the guardian itself is killed."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def _directory(argv: list[str]) -> tuple[str, list[str]]:
    """The server's directory (made now for ``--new``) and the rest of the argv."""
    if argv[0] == "--new":
        directory = tempfile.mkdtemp(prefix=argv[2], dir=argv[1])
        os.chmod(directory, 0o700)
        return directory, argv[3:]
    return argv[1], argv[2:]


def _report(line: str) -> bool:
    """Tell the owner; ``False`` if it is already gone (its end of the pipe is closed)."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
        return True
    except (BrokenPipeError, OSError):
        return False


def main(argv: list[str]) -> int:
    directory, argv = _directory(argv)
    os.chdir(directory)
    argv = [arg.replace("{dir}", directory) for arg in argv]
    stopping = threading.Event()
    server: "subprocess.Popen[bytes] | None" = None

    def stop_and_clean() -> None:
        stopping.set()
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=3)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        # An owner killed by SIGKILL cannot remove the server's directory; do it for them.
        if os.path.basename(directory).startswith("labkit-redis-"):
            shutil.rmtree(directory, ignore_errors=True)

    def quit_now(*_: object) -> None:
        stop_and_clean()
        os._exit(0)  # labkit: ignore[R5] the guardian's only work is the server it has just stopped

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, quit_now)
    with open(os.path.join(directory, "redis.log"), "ab") as log:
        try:
            server = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_guardian,
            )
        except OSError as exc:
            log.write(f"cannot run {argv[0]}: {exc}\n".encode())
            if not _report(f"0 {directory}"):
                stop_and_clean()
            return 1
    with open(os.path.join(directory, RECORD), "w") as record:
        record.write(f"{os.getpid()} {server.pid}\n")

    def exit_with_server() -> None:
        # A server that dies on its own takes the guardian with it, so the parent
        # sees the failure at once; its directory stays so the parent can read the log.
        code = server.wait()
        if not stopping.is_set():
            os._exit(code if code > 0 else 1)

    # Report first: a server that dies at once must not take the guardian down
    # before the parent knows it was launched (it would blame the launch).
    if not _report(f"{server.pid} {directory}"):
        quit_now()  # the owner died during start-up: nobody will ever use this server
    threading.Thread(target=exit_with_server, daemon=True).start()
    while sys.stdin.buffer.read(4096):
        pass
    quit_now()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
