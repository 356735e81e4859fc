# expect: none
"""R3 negative: one lock held across the look-ups and the write (workers take it too)."""


async def reconcile(r) -> None:
    async with r.lock("lock:reconcile", timeout=10):
        for doc_id in await r.smembers("docs:running"):
            if not await r.smembers(f"doc:{doc_id}:incomplete"):
                await r.hset(f"doc:{doc_id}", "status", "FAIL")
