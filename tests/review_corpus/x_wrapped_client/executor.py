# expect: R1:18 R4:18 R1:24 R4:31 R3:41 R5:46 R5:47
"""Executor: heartbeat through the wrapper, blocking work on the same loop, a stale-read cleanup, a handler that exits."""
import asyncio
import signal
import sys
import time

from labkit import llm

from .conn import REDIS_CONN

CONSUMER = "worker-1"
stop = asyncio.Event()


async def heartbeat() -> None:
    while not stop.is_set():
        REDIS_CONN.zadd("heartbeats", {CONSUMER: time.time()})  # want: R1 R4
        await asyncio.sleep(5)


async def handle_task(task: dict) -> str:
    history = [task["text"]]
    return llm.chat("Summarise", history, {})  # want: R1


async def main(tasks: list) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_term)
    beat = asyncio.create_task(heartbeat())  # want: R4
    for task in tasks:
        await handle_task(task)
    beat.cancel()


def cleanup_dead_workers() -> None:
    for worker in REDIS_CONN.smembers("workers"):
        last = REDIS_CONN.zrevrange(f"heartbeat:{worker}", 0, 0)
        if not last or time.time() - last[0][1] > 120:
            REDIS_CONN.srem("workers", worker)  # want: R3


def on_term() -> None:
    stop.set()
    time.sleep(1)  # want: R5
    sys.exit(0)  # want: R5
