# expect: R3:10
"""R3 positive: a re-check right before the write narrows the window but does not close it."""


async def reconcile_doc(r, doc_id: str) -> None:
    remaining = await r.scard(f"doc:{doc_id}:incomplete")
    if remaining:
        return
    if await r.hget(f"doc:{doc_id}", "status") == "RUNNING":
        await r.hset(f"doc:{doc_id}", "status", "FAIL")  # want: R3
