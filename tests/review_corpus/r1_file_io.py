# expect: R1:8 R1:13
"""R1 positive: file I/O inside async code."""
import json
from pathlib import Path


async def load_config(path: str) -> dict:
    with open(path) as handle:  # want: R1
        return json.load(handle)


async def save_report(path: Path, report: str) -> None:
    path.write_text(report)  # want: R1
