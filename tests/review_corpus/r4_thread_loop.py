# expect: R4:10
"""R4 positive: a worker thread renews its lease between long blocking calls."""
import threading

import requests


def work(queue, lease, stop: threading.Event) -> None:
    while not stop.is_set():
        lease.renew(ttl=10)  # want: R4
        job = queue.get()
        requests.post("https://example.com/render", json=job, timeout=120)
