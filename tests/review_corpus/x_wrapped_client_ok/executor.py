# expect: none
"""The fixed executor: awaited async wrapper, offloaded model call, an atomic cleanup, a handler that only sets."""
import asyncio
import signal
import time

from labkit import llm

from .conn import DROP_IF_STALE, REDIS_CONN

CONSUMER = "worker-1"
stop = asyncio.Event()


async def heartbeat() -> None:
    while not stop.is_set():
        await REDIS_CONN.zadd("heartbeats", {CONSUMER: time.time()})
        await asyncio.sleep(5)


async def handle_task(task: dict) -> str:
    return await asyncio.to_thread(llm.chat, "Summarise", [task["text"]], {})


async def main(tasks: list) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    beat = asyncio.create_task(heartbeat())
    for task in tasks:
        if stop.is_set():
            break
        await handle_task(task)
    beat.cancel()


async def cleanup_dead_workers() -> None:
    for worker in await REDIS_CONN.smembers("workers"):
        await REDIS_CONN.r.eval(DROP_IF_STALE, 2, "heartbeats", "workers", worker, time.time())
