# expect: none
"""R4 negative: heartbeat and work share a loop, but the work is awaited off the loop."""
import asyncio
import subprocess


async def worker(r, llm, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await r.expire("lease:w1", 10)
        task = await r.lpop("queue")
        await asyncio.to_thread(llm.chat, "Answer", [task], {})
        await asyncio.to_thread(subprocess.run, ["true"], check=True)
