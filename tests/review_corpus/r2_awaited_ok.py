# expect: none
"""R2 negative: async callees whose callers are all async (an async callee is right)."""
import asyncio


async def is_ready(service) -> bool:
    return await service.ping()


async def fetch(doc_id: str) -> str:
    await asyncio.sleep(0)
    return doc_id


async def start(service) -> list[str]:
    if await is_ready(service):
        task = asyncio.create_task(fetch("a"))
        async with asyncio.TaskGroup() as group:
            group.create_task(fetch("b"))
        return [await task]
    return []


async def public_api(doc_id: str) -> str:
    """Never called here: a library entry point for async callers."""
    return await fetch(doc_id)
