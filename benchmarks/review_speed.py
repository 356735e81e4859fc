"""How fast the five-rule reviewer is on real trees of code nobody here wrote.

Run ``python benchmarks/review_speed.py``. It fetches pinned releases from PyPI
into a cache (see ``pypi_cache.py``), reviews a ~50k-line tree (celery) and an
~85k-line tree (celery with kombu and rq, reviewed together in one run, as a
service and its libraries would be), and prints, per tree: files, lines, the
seconds of the whole review (wall clock, and CPU time of this process, which
other load on a shared machine disturbs less), and the seconds spent only
reading and parsing.
The target is 50k lines in under 10 s on a 2-core machine. The last line
printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from pypi_cache import fetch

from labkit.review import review_paths
from labkit.review.source import expand_paths, read_sources

TREES = {
    "50k": [("celery", "5.7.0")],
    "85k": [("celery", "5.7.0"), ("kombu", "5.7.0"), ("rq", "3.0.0")],
}
TARGET = {"tree": "50k", "seconds": 10.0}


def measure(roots: list[Path], repeat: int) -> dict[str, object]:
    files = expand_paths(roots)
    lines = sum(len(path.read_bytes().splitlines()) for path in files)
    read_s, review_s, review_cpu = [], [], []
    for _ in range(repeat):
        began = time.perf_counter()
        read_sources(files)
        read_s.append(time.perf_counter() - began)
        began, cpu = time.perf_counter(), time.process_time()
        review = review_paths(roots)
        review_s.append(time.perf_counter() - began)
        review_cpu.append(time.process_time() - cpu)
    return {
        "files": len(files),
        "lines": lines,
        "seconds": round(min(review_s), 2),
        "cpu_seconds": round(min(review_cpu), 2),
        "read_parse_seconds": round(min(read_s), 2),
        "findings": len(review),
        "skipped": len(review.skipped),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="runs per tree; the fastest counts (default 1)")
    args = parser.parse_args()
    result: dict[str, object] = {"python": platform.python_version()}
    for name, releases in TREES.items():
        roots = [fetch(package, version) for package, version in releases]
        figures = measure(roots, max(1, args.repeat))
        figures["releases"] = [f"{package}=={version}" for package, version in releases]
        result[name] = figures
        print(f"{name}: {figures['lines']} lines in {figures['files']} files reviewed in {figures['seconds']} s "
              f"({figures['cpu_seconds']} s CPU; "
              f"reading and parsing {figures['read_parse_seconds']} s)", flush=True)
    target = result[TARGET["tree"]]
    assert isinstance(target, dict)
    result["target_met"] = target["seconds"] < TARGET["seconds"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
