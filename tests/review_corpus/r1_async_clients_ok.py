# expect: none
"""R1 negative: async clients awaited; an awaited chat is an async chat."""
import asyncio

import aiofiles
import httpx
import redis.asyncio as aredis

r = aredis.Redis.from_url("redis://localhost")


async def claim(task_id: str) -> dict:
    return await r.hgetall(f"task:{task_id}")


async def fetch_page(url: str) -> str:
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    return response.text


async def ask(llm, question: str) -> str:
    return await llm.chat(question)


async def read_notes(path: str) -> str:
    async with aiofiles.open(path) as handle:
        return await handle.read()


async def settle() -> None:
    await asyncio.sleep(0.1)
