# expect: none
"""R3 negative: deciding on the caller's own data (not a store read) inside one MULTI/EXEC."""

DONE = "DONE"


async def put_doc(r, doc_id: str, tasks: dict) -> None:
    done = sum(1 for spec in tasks.values() if spec.state == DONE)
    async with r.pipeline(transaction=True) as pipe:
        pipe.hset(f"doc:{doc_id}", mapping={"state": "RUNNING", "done": done})
        for tid, spec in tasks.items():
            if spec.state != DONE:
                pipe.sadd(f"doc:{doc_id}:pending", tid)
            pipe.hset(f"task:{tid}", mapping={"doc": doc_id, "state": spec.state})
        await pipe.execute()
