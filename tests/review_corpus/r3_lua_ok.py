# expect: none
"""R3 negative: a Lua compare-and-set does the check and the write in one step."""

FAIL_IF_ORPHANED = """
if redis.call('HGET', KEYS[1], 'status') == 'RUNNING' and redis.call('SCARD', KEYS[2]) == 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[1])
  return 1
end
return 0
"""


async def reconcile(r) -> int:
    script = r.register_script(FAIL_IF_ORPHANED)
    failed = 0
    for doc_id in await r.smembers("docs:running"):
        if await r.scard(f"doc:{doc_id}:incomplete") == 0:
            failed += await script(keys=[f"doc:{doc_id}", f"doc:{doc_id}:incomplete"], args=["FAIL"])
    return failed
