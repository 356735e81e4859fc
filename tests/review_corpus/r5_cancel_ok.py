# expect: none
"""R5 negative: a task loop that handles cancellation and cleans up."""
import asyncio


async def lease_renewer(r, key: str) -> None:
    try:
        while True:
            await r.expire(key, 10)
            await asyncio.sleep(3)
    except asyncio.CancelledError:
        await r.delete(key)
        raise
