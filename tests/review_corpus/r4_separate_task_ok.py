# expect: none
"""R4 negative: the heartbeat has its own task; the worker offloads its blocking call."""
import asyncio


async def heartbeat_forever(r, worker_id: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await r.set(f"hb:{worker_id}", "alive", px=3000)
        await asyncio.sleep(1)


async def worker(r, llm, worker_id: str, stop: asyncio.Event) -> None:
    beat = asyncio.create_task(heartbeat_forever(r, worker_id, stop))
    try:
        while not stop.is_set():
            task = await r.lpop("queue")
            if task:
                answer = await asyncio.to_thread(llm.chat, "Answer", [task], {})
                await r.hset(f"task:{task}", "answer", answer)
            else:
                await asyncio.sleep(0.1)
    finally:
        beat.cancel()
