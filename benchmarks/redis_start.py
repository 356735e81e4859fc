"""How fast the lab's private Redis starts and stops (issue target: well under 1 s).

Prints one JSON object on its last line.
"""

from __future__ import annotations

import json
import statistics
import time

from labkit.redis.server import EmbeddedRedis

RUNS = 20


def main() -> None:
    starts, stops = [], []
    binary = version = ""
    for _ in range(RUNS):
        server = EmbeddedRedis.start()
        starts.append(server.started_in_s)
        binary, version = str(server.binary), server.version
        began = time.perf_counter()
        server.stop()
        stops.append(time.perf_counter() - began)
    print(json.dumps({
        "binary": binary,
        "version": version,
        "runs": RUNS,
        "start_median_s": round(statistics.median(starts), 4),
        "start_max_s": round(max(starts), 4),
        "stop_median_s": round(statistics.median(stops), 4),
    }))


if __name__ == "__main__":
    main()
