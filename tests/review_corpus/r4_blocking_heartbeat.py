# expect: R1:12 R4:12
"""R4 positive: the heartbeat itself goes through a blocking Redis client on the loop."""
import asyncio
import time

import redis


async def heartbeat_loop(worker_id: str, stop: asyncio.Event) -> None:
    r = redis.Redis()
    while not stop.is_set():
        r.set(f"heartbeat:{worker_id}", time.time(), px=3000)  # want: R1 R4
        await asyncio.sleep(1)
