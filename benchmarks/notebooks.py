"""Wall time of every notebook, top to bottom in a fresh kernel (target: < 30 s each).

Learner notebooks run with LABKIT_CHECK_MODE=expect-unsolved and solutions with
strict, as in the test suite. Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent / "notebooks"


def run(path: Path, mode: str) -> float:
    os.environ["LABKIT_CHECK_MODE"] = mode
    nb = nbformat.read(path, as_version=4)
    began = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - began


def main() -> None:
    seconds: dict[str, float] = {}
    for path in sorted(ROOT.glob("[0-9][0-9]-*.ipynb")):
        seconds[path.name] = round(run(path, "expect-unsolved"), 2)
        seconds[f"solutions/{path.name}"] = round(run(ROOT / "solutions" / path.name, "strict"), 2)
    print(json.dumps({"seconds": seconds, "max_s": max(seconds.values()), "all_under_30_s": max(seconds.values()) < 30}))


if __name__ == "__main__":
    main()
