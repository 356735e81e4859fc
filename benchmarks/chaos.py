"""Chaos run of the fixed executor: kill -9, SIGTERM, a freeze and a Redis restart; one JSON object last.

Usage: python benchmarks/chaos.py [SEED]
"""

from __future__ import annotations

import asyncio
import json
import sys

from labkit.tasks.chaos import run_chaos


def main() -> int:
    seed = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    result = asyncio.run(run_chaos(seed))  # a script's top-level entry point
    print(result, file=sys.stderr)
    print(json.dumps(result.to_dict()))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
