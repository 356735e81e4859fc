# expect: none
"""R3 negative: WATCH/MULTI/EXEC, both by hand and with redis-py's transaction helper."""
import redis


def fail_if_orphaned(r: redis.Redis, doc_id: str) -> bool:
    doc, incomplete = f"doc:{doc_id}", f"doc:{doc_id}:incomplete"
    with r.pipeline() as pipe:
        while True:
            try:
                pipe.watch(doc, incomplete)
                if pipe.hget(doc, "status") != "RUNNING" or pipe.scard(incomplete):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(doc, "status", "FAIL")
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def fail_with_helper(r: redis.Redis, doc_id: str) -> None:
    def step(pipe) -> None:
        if pipe.hget(f"doc:{doc_id}", "status") == "RUNNING":
            pipe.multi()
            pipe.hset(f"doc:{doc_id}", "status", "FAIL")

    r.transaction(step, f"doc:{doc_id}")
