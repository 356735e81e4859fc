"""Imported only by the workers' fork server: it leaves its starter's process group and cleans up on exit.

Jupyter ends a kernel by signalling the kernel's whole process group, which would
kill the fork server before it could remove its temp dir. In a session of its own
it outlives that signal, sees the kernel gone (its "alive" pipe closes), exits,
and removes the dir here; its workers die with it (their parent-death signal).
Workers forked from the server leave through ``os._exit`` and never run this.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil

from .procs import DIR_ENV

_dir = os.environ.pop(DIR_ENV, "")
if _dir:
    with contextlib.suppress(OSError):
        os.setsid()
    atexit.register(shutil.rmtree, _dir, True)
