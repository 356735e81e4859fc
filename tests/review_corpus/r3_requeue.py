# expect: R3:11
"""R3 positive: a requeue loop that reads a task hash, then overwrites it."""
import time


def requeue_expired(r, task_keys: list[str], now: float) -> None:
    for key in task_keys:
        task = r.hgetall(key)
        expired = float(task.get("lease_until", 0)) < now
        if task["status"] == "RUNNING" and expired:
            r.hset(key, mapping={"status": "FAILED", "at": time.time()})  # want: R3
