# expect: R5:7
"""R5 positive: started as a task, but nobody keeps the handle or ever stops it."""
import asyncio


async def sweep_leases(r) -> None:
    while True:  # want: R5
        await r.delete(*await r.keys("lease:expired:*"))
        await asyncio.sleep(5)


def start(r) -> None:
    asyncio.get_running_loop().create_task(sweep_leases(r))
