# expect: none
"""R4 negative: loops that read heartbeats or log about them do not send one."""
import logging
import time

import requests

log = logging.getLogger(__name__)
HEARTBEAT_INTERVAL = 1.0


def watch_workers(r, stop) -> None:
    while not stop.is_set():
        for worker in r.smembers("workers"):
            last = r.get(f"hb:{worker}")
            if last is None:
                log.warning("no heartbeat from %s", worker)
                requests.post("https://example.com/alert", json={"worker": worker}, timeout=5)
        time.sleep(HEARTBEAT_INTERVAL)


def check_heartbeat(r, worker: str) -> bool:
    for _ in range(3):
        if r.get(f"hb:{worker}"):
            return True
        time.sleep(0.1)
    return False
