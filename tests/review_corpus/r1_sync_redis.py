# expect: R1:10 R1:14 R1:21
"""R1 positive: sync Redis clients (module-level, annotated, and from a with) in async code."""
import redis
from redis import Redis

r = redis.Redis.from_url("redis://localhost")


async def claim(task_id: str) -> dict:
    return r.hgetall(f"task:{task_id}")  # want: R1


async def count_queue(client: Redis) -> int:
    return client.llen("queue")  # want: R1


async def flush_stats(lab) -> None:
    with lab.sync_client() as conn:
        pipe = conn.pipeline()
        pipe.incr("stats:flushes")
        pipe.execute()  # want: R1
