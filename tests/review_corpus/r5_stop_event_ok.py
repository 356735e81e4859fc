# expect: none
"""R5 negative: loops that honour a stop event, in both styles."""
import asyncio


async def worker(r, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await r.blpop("queue", timeout=1)


async def heartbeat_loop(r, stop_event: asyncio.Event) -> None:
    while True:
        await r.set("hb:w1", "1", px=3000)
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=1)
        except asyncio.TimeoutError:
            continue


def poll(queue, should_stop) -> None:
    while True:
        if should_stop():
            break
        queue.get()
