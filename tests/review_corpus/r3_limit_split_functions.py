# expect: R3:16
# known-limits: miss:R3:16
"""R3 known limit: the check and the act live in different functions."""


async def is_orphaned(r, doc_id: str) -> bool:
    return not await r.smembers(f"doc:{doc_id}:incomplete")


async def fail(r, doc_id: str) -> None:
    await r.hset(f"doc:{doc_id}", "status", "FAIL")


async def reconcile(r, doc_id: str) -> None:
    if await is_orphaned(r, doc_id):
        await fail(r, doc_id)  # want: R3  (missed: the write is inside fail())
