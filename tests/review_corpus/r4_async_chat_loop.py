# expect: R4:12 R1:15
"""R4 positive: the incident: heartbeat and a blocking chat() on the same event loop."""
import asyncio


async def beat(r, worker_id: str) -> None:
    await r.set(f"hb:{worker_id}", "alive", px=3000)


async def worker(r, llm, worker_id: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await beat(r, worker_id)  # want: R4
        task = await r.lpop("queue")
        if task:
            answer = llm.chat("Answer", [task], {})  # want: R1
            await r.hset(f"task:{task}", "answer", answer)
