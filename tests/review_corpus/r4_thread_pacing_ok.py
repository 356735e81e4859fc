# expect: none
"""R4 negative: a dedicated heartbeat thread; a sync Redis call and a pacing sleep are fine there."""
import threading
import time

import redis


def heartbeat_thread(worker_id: str, stop: threading.Event) -> None:
    r = redis.Redis()
    while not stop.is_set():
        r.set(f"hb:{worker_id}", time.time(), px=3000)
        time.sleep(1)
