# expect: R2:14 R2:15 R2:16 R2:22
"""R2 positive: coroutines created and dropped inside async code."""
import asyncio

import redis.asyncio as aredis


async def notify(user: str) -> None:
    await asyncio.sleep(0.01)


async def finish(lab, doc_id: str, user: str) -> None:
    r = lab.async_client()
    r.hset(f"doc:{doc_id}", "owner", user)  # want: R2
    notify(user)  # want: R2
    asyncio.sleep(0.1)  # want: R2
    await notify(user)


async def archive(doc_id: str) -> None:
    client = aredis.from_url("redis://localhost")
    client.delete(f"doc:{doc_id}")  # want: R2
