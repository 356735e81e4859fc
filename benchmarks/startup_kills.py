"""Kill -9 a server's owner at N moments spread over its start-up; count what is left. One JSON object last.

Each owner is a fresh Python process that starts an embedded server in a private
temp dir. After each kill the script waits for the guardian to clean up, then
counts entries left in that dir and processes still working in it or started on
it. A run where everything is cleaned up prints ``"left_dirs": 0, "left_processes": 0``.

Usage: python benchmarks/startup_kills.py [N]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

# The owner asks for the temp dir before it says "go": Python finds it by creating and deleting a
# probe file there, and a kill inside that probe leaves Python's file, not the lab's.
STARTER = (
    "import sys, tempfile, time\n"
    "from labkit.redis.server import EmbeddedRedis\n"
    "tempfile.gettempdir()\n"
    "print('go', flush=True)\n"
    "began = time.monotonic()\n"
    "EmbeddedRedis.start()\n"
    "print(time.monotonic() - began, flush=True)\n"
    "sys.stdin.read()\n"
)


def leftovers(root: Path) -> tuple[int, int]:
    """Entries in ``root``, and live processes working in it or started on it."""
    procs = 0
    for proc in psutil.process_iter(["cwd", "cmdline", "status"]):
        places = [proc.info["cwd"] or "", *(proc.info["cmdline"] or [])]
        if proc.info["status"] != psutil.STATUS_ZOMBIE and any(p.startswith(str(root)) for p in places):
            procs += 1
    return len(list(root.iterdir())), procs


def owner(root: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", STARTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "TMPDIR": str(root)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "go"
    return proc


def main() -> int:
    kills = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    root = Path(tempfile.mkdtemp(prefix="k-"))
    try:
        whole = owner(root)
        assert whole.stdout is not None
        start_s = float(whole.stdout.readline())
        whole.communicate("")
        left_dirs = left_procs = 0
        cleanup_s: list[float] = []
        for i in range(kills):
            proc = owner(root)
            time.sleep(start_s * 1.2 * i / max(1, kills - 1))
            proc.kill()
            proc.wait()
            killed, deadline = time.monotonic(), time.monotonic() + 30
            time.sleep(0.2)  # a guardian forked but not yet exec'd shows up by now
            while leftovers(root) != (0, 0) and time.monotonic() < deadline:
                time.sleep(0.02)
            cleanup_s.append(time.monotonic() - killed)
            dirs, procs = leftovers(root)
            left_dirs, left_procs = left_dirs + dirs, left_procs + procs
            for entry in root.iterdir():  # so one failure does not count again in the next run
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(json.dumps({"kills": kills, "start_s": round(start_s, 3), "left_dirs": left_dirs,
                      "left_processes": left_procs, "max_cleanup_s": round(max(cleanup_s), 2)}))
    return 0 if left_dirs == left_procs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
