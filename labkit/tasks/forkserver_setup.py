"""Imported only by the workers' fork server: it sets the server up as a process of its own.

Jupyter ends a kernel by signalling the kernel's whole process group, which would
kill the fork server before it could remove its temp dir. In a session of its own
it outlives that signal, sees the kernel gone (its "alive" pipe closes), exits,
and removes the dir here; its workers die with it (their parent-death signal).
Workers forked from the server leave through ``os._exit`` and never run this.

multiprocessing also has every child run its starter's ``__main__`` first (as
``__mp_main__``), so a script without an ``if __name__ == "__main__":`` guard
would start workers from inside each worker. A worker runs labkit's worker and a
learner's module, never the starter's script, so our workers skip it. Only ours:
a process pool that shares this server (multiprocessing keeps one per process)
still gets its ``__main__``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
from multiprocessing import spawn
from typing import Any

from .procs import DIR_ENV, WORKER_NAME

_dir = os.environ.pop(DIR_ENV, "")
if _dir:
    with contextlib.suppress(OSError):
        os.setsid()
    atexit.register(shutil.rmtree, _dir, True)

_prepare = spawn.prepare
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")


def _prepare_without_main(data: dict[str, Any]) -> None:
    if str(data.get("name", "")).startswith(WORKER_NAME):
        data = {key: value for key, value in data.items() if key not in _MAIN_KEYS}
    _prepare(data)


spawn.prepare = _prepare_without_main  # spawn._main, run in each forked child, looks it up here
