# expect: R1:19 R1:23 R4:23 R1:24 R1:27 R1:31 R3:31 R1:32 R3:32 R1:37 R4:44 R5:51 R5:52
"""An executor's status loop: heartbeat and cleanup of other executors in one async loop, a handler that exits."""
import json
import signal
import sys
import time
from datetime import datetime

import trio

from .redis_conn import REDIS_CONN

CONSUMER_NAME = "task_executor_0"
WORKER_HEARTBEAT_TIMEOUT = 120
stop_event = trio.Event()


async def report_status() -> None:
    REDIS_CONN.sadd("TASKEXE", CONSUMER_NAME)  # want: R1
    while not stop_event.is_set():
        now = datetime.now()
        heartbeat = json.dumps({"name": CONSUMER_NAME, "now": now.isoformat()})
        REDIS_CONN.zadd(CONSUMER_NAME, heartbeat, now.timestamp())  # want: R1 R4
        for consumer_name in REDIS_CONN.smembers("TASKEXE"):  # want: R1
            if consumer_name == CONSUMER_NAME:
                continue
            alive = REDIS_CONN.zcount(  # want: R1
                consumer_name, now.timestamp() - WORKER_HEARTBEAT_TIMEOUT, now.timestamp()
            )
            if alive == 0:
                REDIS_CONN.srem("TASKEXE", consumer_name)  # want: R1 R3
                REDIS_CONN.delete(consumer_name)  # want: R1 R3
        await trio.sleep(30)


async def handle_task(chat_mdl, task: dict) -> str:
    return chat_mdl.chat("Summarise", [task["text"]], {})  # want: R1


async def main(chat_mdl, tasks: list) -> None:
    signal.signal(signal.SIGINT, signal_handler)
    signal.signal(signal.SIGTERM, signal_handler)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(report_status)  # want: R4
        for task in tasks:
            nursery.start_soon(handle_task, chat_mdl, task)


def signal_handler(sig, frame) -> None:
    stop_event.set()
    time.sleep(1)  # want: R5
    sys.exit(0)  # want: R5
