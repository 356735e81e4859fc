# expect: R1:8
# known-limits: miss:R1:8
"""R1 known limit: a sync Redis client passed in without a type hint is invisible."""
import redis


async def claim(r, task_id: str) -> dict:
    return r.hgetall(f"task:{task_id}")  # want: R1  (missed: nothing says r is sync)


def main() -> None:
    import asyncio

    asyncio.run(claim(redis.Redis(), "t1"))
