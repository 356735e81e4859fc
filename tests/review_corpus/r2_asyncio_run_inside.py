# expect: R2:12 R2:17
"""R2 positive: asyncio.run and run_until_complete inside a running loop."""
import asyncio


async def load(doc_id: str) -> str:
    await asyncio.sleep(0)
    return doc_id


async def handler(doc_id: str) -> str:
    return asyncio.run(load(doc_id))  # want: R2


async def other_handler(doc_id: str) -> str:
    loop = asyncio.get_event_loop()
    return loop.run_until_complete(load(doc_id))  # want: R2
