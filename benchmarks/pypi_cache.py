"""Fetch pinned releases of real projects from PyPI into a local cache, for benchmarks.

Benchmarks that measure tools "on any code" run them on code nobody here wrote.
That code is downloaded at run time (``pip download``, wheels only, no
dependencies, nothing installed or imported) and unpacked under
``~/.cache/labkit-bench/`` (``LABKIT_BENCH_CACHE`` to move it); none of it is
copied into this repository. A second run reuses the cache and needs no network.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("LABKIT_BENCH_CACHE", Path.home() / ".cache" / "labkit-bench"))


def _wheel_name(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def fetch(name: str, version: str, cache: Path = CACHE) -> Path:
    """The unpacked wheel of ``name==version`` (a folder), downloading it if needed."""
    downloads = cache / "dl"
    prefix = f"{_wheel_name(name)}-{version}-"
    wheels = sorted(p for p in downloads.glob("*.whl") if p.name.lower().startswith(prefix))
    if not wheels:
        downloads.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
             "--dest", str(downloads), f"{name}=={version}"],
            capture_output=True, text=True,
        )
        wheels = sorted(p for p in downloads.glob("*.whl") if p.name.lower().startswith(prefix))
        if run.returncode != 0 or not wheels:
            raise SystemExit(f"could not download {name}=={version} from PyPI:\n{run.stderr.strip()}")
    wheel = wheels[0]
    unpacked = cache / "src" / wheel.name.removesuffix(".whl")
    if not unpacked.is_dir():
        partial = unpacked.with_name(unpacked.name + ".partial")
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(partial)
        partial.rename(unpacked)
    return unpacked

