# expect: R3:15
"""R3 positive: the check and the act live in different functions, followed through both."""


async def is_orphaned(r, doc_id: str) -> bool:
    return not await r.smembers(f"doc:{doc_id}:incomplete")


async def fail(r, doc_id: str) -> None:
    await r.hset(f"doc:{doc_id}", "status", "FAIL")


async def reconcile(r, doc_id: str) -> None:
    if await is_orphaned(r, doc_id):
        await fail(r, doc_id)  # want: R3
