"""Wall time of every notebook, top to bottom in a fresh kernel (target: < 30 s each).

Learner notebooks run with LABKIT_CHECK_MODE=expect-unsolved and solutions with
strict, as in the test suite. ``python benchmarks/notebooks.py 03`` runs only the
notebooks whose names start with 03. Each notebook's slowest cell is named, to
say where its time goes. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent / "notebooks"


def _cell_seconds(cell: Any) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        began = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return 0.0
    return (ended - began).total_seconds()


def run(path: Path, mode: str) -> tuple[float, dict[str, Any]]:
    os.environ["LABKIT_CHECK_MODE"] = mode
    nb = nbformat.read(path, as_version=4)
    began = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - began
    slowest = max((c for c in nb.cells if c.cell_type == "code"), key=_cell_seconds, default=None)
    return seconds, ({"cell": slowest.get("id"), "seconds": round(_cell_seconds(slowest), 2)} if slowest else {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="run only notebooks whose names start with these (e.g. 03)")
    args = parser.parse_args()
    seconds: dict[str, float] = {}
    slowest: dict[str, Any] = {}
    for path in sorted(ROOT.glob("[0-9][0-9]-*.ipynb")):
        if args.only and not any(path.name.startswith(p) for p in args.only):
            continue
        for name, nb_path, mode in ((path.name, path, "expect-unsolved"),
                                    (f"solutions/{path.name}", ROOT / "solutions" / path.name, "strict")):
            took, slowest[name] = run(nb_path, mode)
            seconds[name] = round(took, 2)
    print(json.dumps({"seconds": seconds, "slowest_cell": slowest, "max_s": max(seconds.values()),
                      "all_under_30_s": max(seconds.values()) < 30}))


if __name__ == "__main__":
    main()
