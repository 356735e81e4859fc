# expect: none
"""R1 negative: blocking work passed to to_thread or an executor is a reference, not a call."""
import asyncio
import functools
import time

import requests


async def summarise(llm, text: str) -> str:
    return await asyncio.to_thread(llm.chat, "Summarise this", [text], {})


async def nap() -> None:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, lambda: time.sleep(1))


async def download(url: str) -> bytes:
    fetch = functools.partial(requests.get, url, timeout=5)
    response = await asyncio.to_thread(fetch)
    return response.content


async def crunch(path: str) -> int:
    def work() -> int:
        with open(path) as handle:
            time.sleep(0.1)
            return len(handle.read())

    return await asyncio.to_thread(work)
