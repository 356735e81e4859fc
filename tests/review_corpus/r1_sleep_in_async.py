# expect: R1:9 R1:14
"""R1 positive: time.sleep inside async def, under its own name and an alias."""
import asyncio
import time
from time import sleep as pause


async def poll_status(client):
    time.sleep(0.5)  # want: R1
    return await client.status()


async def backoff(attempt: int) -> None:
    pause(2**attempt)  # want: R1
    await asyncio.sleep(0)
