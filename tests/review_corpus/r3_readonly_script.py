# expect: R3:27 R3:29
"""R3 positive: a read-only Lua snapshot, a decision in Python, then blind writes in MULTI."""
import json

import redis.asyncio as aredis

SNAPSHOT = """
local out = {}
for i, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  out[i] = {id, redis.call('GET', id)}
end
return out
"""


class Queue:
    def __init__(self, client: aredis.Redis) -> None:
        self.redis = client
        self._snapshot = self.redis.register_script(SNAPSHOT)

    async def sweep(self, now: float) -> None:
        for job_id, raw in await self._snapshot(keys=["active"]):
            job = json.loads(raw)
            if job["status"] != "active" or job["touched"] < now - 60:
                job["status"] = "aborting"
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.set(job_id, json.dumps(job)).lrem("active", 0, job_id)
                    await pipe.execute()
                await self.finish(job_id, job, "ABORTED")  # want: R3

    async def finish(self, job_id: str, job: dict, status: str) -> None:
        job["status"] = status
        await self.redis.set(job_id, json.dumps(job))
