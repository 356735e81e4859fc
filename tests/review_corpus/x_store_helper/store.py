# expect: R2:22
"""A document store whose writes are queued into the caller's pipeline."""
import redis.asyncio as aredis

FAIL = "FAIL"


class Store:
    def __init__(self, client: aredis.Redis) -> None:
        self.client = client

    async def orphaned_docs(self) -> list[str]:
        return sorted(await self.client.smembers("docs:running"))

    async def incomplete_tasks(self, doc: str) -> set:
        return await self.client.smembers(f"doc:{doc}:pending")

    def add_finish(self, pipe, doc: str, state: str) -> None:
        pipe.hset(f"doc:{doc}", "state", state)
        pipe.srem("docs:running", doc)

    async def touch(self, doc: str) -> None:  # want: R2
        await self.client.set(f"doc:{doc}:touched", 1)
