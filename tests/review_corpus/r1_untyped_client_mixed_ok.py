# expect: none
"""R1 negative: callers pass a sync client at one site and an async one at another: it cannot be told."""
import asyncio

import redis
import redis.asyncio as aredis


async def queue_length(r, key: str):
    return r.llen(key)


def main() -> None:
    asyncio.run(queue_length(redis.Redis(), "queue"))
    asyncio.run(queue_length(aredis.Redis(), "queue"))
