# expect: R1:7
"""R1 positive: a sync Redis client passed in without a type hint, known from what the caller passes."""
import redis


async def claim(r, task_id: str) -> dict:
    return r.hgetall(f"task:{task_id}")  # want: R1


def main() -> None:
    import asyncio

    asyncio.run(claim(redis.Redis(), "t1"))
