# expect: R1:14 R4:23
"""R4 positive: a recovery loop started as a task next to work that blocks the loop."""
import asyncio
import time


async def reconcile_forever(store, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await store.requeue_expired()
        await asyncio.wait_for(stop.wait(), 1.0)


async def process(task) -> None:
    time.sleep(task.cost)  # want: R1


async def main(store, tasks, stop: asyncio.Event) -> None:
    for task in tasks:
        await process(task)


async def run(store, tasks, stop: asyncio.Event) -> None:
    asyncio.create_task(reconcile_forever(store, stop))  # want: R4
    await main(store, tasks, stop)
