# expect: none
"""A module-level connection object around a sync client, created once and imported everywhere."""
import redis


class RedisDB:
    def __init__(self) -> None:
        self.REDIS = redis.StrictRedis(host="localhost", decode_responses=True)

    def zadd(self, key: str, member: str, score: float) -> bool:
        return self.REDIS.zadd(key, {member: score}) > 0

    def zcount(self, key: str, low: float, high: float) -> int:
        return self.REDIS.zcount(key, low, high)

    def smembers(self, key: str) -> set:
        return self.REDIS.smembers(key)

    def sadd(self, key: str, member: str) -> bool:
        return self.REDIS.sadd(key, member) > 0

    def srem(self, key: str, member: str) -> bool:
        return self.REDIS.srem(key, member) > 0

    def delete(self, key: str) -> bool:
        return self.REDIS.delete(key) > 0


REDIS_CONN = RedisDB()
