# expect: R5:7
"""R5 positive: a break in an inner loop does not leave the outer one."""
import asyncio


async def requeue_loop(r) -> None:
    while True:  # want: R5
        for key in await r.keys("lease:*"):
            if not await r.exists(key):
                break
        await asyncio.sleep(1)
