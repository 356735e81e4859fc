"""Temp files the lab leaves while it runs, named after the process that owns them.

Every temp entry the lab makes (a server's directory, a worker's log, a learner's
answer module, ``labkit progress``'s results) is called ``labkit-<kind>-o<owner pid>-...``. Its owner removes it
when the run ends; if the owner was killed first, ``labkit reset`` can still tell
it is an orphan (its owner is dead) without guessing from a process listing.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

KINDS = ("redis", "worker", "answer", "progress")
_NAME = re.compile(r"^labkit-(?P<kind>[a-z]+)-o(?P<owner>\d+)-")


def owned_prefix(kind: str, owner: int | None = None) -> str:
    """The name prefix for a temp entry of ``kind`` owned by ``owner`` (default: this process)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return f"labkit-{kind}-o{owner or os.getpid()}-"


def owner_of(path: Path) -> tuple[str, int] | None:
    """``(kind, owner pid)`` for a lab temp entry, ``None`` for anything else."""
    match = _NAME.match(path.name)
    if match is None or match["kind"] not in KINDS:
        return None
    return match["kind"], int(match["owner"])


def temp_root() -> Path:
    """Where the lab's temp entries go (``TMPDIR`` or the platform's default)."""
    return Path(tempfile.gettempdir())
