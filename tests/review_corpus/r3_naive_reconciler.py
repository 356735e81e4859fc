# expect: R3:10
"""R3 positive: the incident's reconciler: two look-ups, a decision, a plain write."""


async def reconcile(r) -> int:
    failed = 0
    for doc_id in await r.smembers("docs:running"):
        incomplete = await r.smembers(f"doc:{doc_id}:incomplete")
        if not incomplete:
            await r.hset(f"doc:{doc_id}", "status", "FAIL")  # want: R3
            failed += 1
    return failed
