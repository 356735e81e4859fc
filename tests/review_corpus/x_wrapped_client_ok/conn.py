# expect: none
"""The same wrapper around a redis.asyncio client: its methods are coroutines, awaited by callers."""
import redis.asyncio as aredis


class RedisDB:
    def __init__(self) -> None:
        self.r = aredis.StrictRedis(decode_responses=True)

    async def zadd(self, key: str, mapping: dict) -> int:
        return await self.r.zadd(key, mapping)

    async def smembers(self, key: str) -> set:
        return await self.r.smembers(key)


REDIS_CONN = RedisDB()

DROP_IF_STALE = """
local last = redis.call('ZSCORE', KEYS[1], ARGV[1])
if (not last) or (tonumber(ARGV[2]) - tonumber(last) > 120) then
  redis.call('SREM', KEYS[2], ARGV[1])
  return 1
end
return 0
"""
