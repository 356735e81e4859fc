# expect: none
"""A module-level wrapper around a sync Redis client (the production executor's shape)."""
import redis


class RedisDB:
    def __init__(self) -> None:
        self.r = redis.StrictRedis(decode_responses=True)

    def zadd(self, key: str, mapping: dict) -> int:
        return self.r.zadd(key, mapping)

    def smembers(self, key: str) -> set:
        return self.r.smembers(key)

    def zrevrange(self, key: str, start: int, end: int) -> list:
        return self.r.zrevrange(key, start, end, withscores=True)

    def srem(self, key: str, member: str) -> int:
        return self.r.srem(key, member)


REDIS_CONN = RedisDB()
