# expect: none
"""R1 negative: the async OpenAI SDK and async HTTP clients, awaited; a sync client offloaded."""
import asyncio

import httpx
from openai import AsyncOpenAI, OpenAI


class Summariser:
    def __init__(self) -> None:
        self.client = AsyncOpenAI()
        self.sync_client = OpenAI()
        self.http = httpx.AsyncClient(timeout=10)

    async def summarise(self, text: str) -> str:
        reply = await self.client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        return reply.choices[0].message.content

    async def summarise_offloaded(self, text: str) -> str:
        create = self.sync_client.chat.completions.create
        reply = await asyncio.to_thread(create, model="m", messages=[{"role": "user", "content": text}])
        return reply.choices[0].message.content

    async def fetch(self, url: str) -> str:
        return (await self.http.get(url)).text


def sync_fetch(url: str) -> str:
    return httpx.get(url).text
