# expect: R1:26 R1:30 R1:34 R1:39
"""R1 positive: a sync client reached through a factory, a class attribute, a property, a classmethod."""
import redis


def get_redis() -> redis.Redis:
    return redis.Redis()


class Holder:
    client = redis.Redis()

    def __init__(self) -> None:
        self._conn = redis.Redis()

    @property
    def conn(self):
        return self._conn

    @classmethod
    def make(cls) -> "Holder":
        return cls()


async def from_factory() -> bytes:
    return get_redis().get("x")  # want: R1


async def from_class_attribute(h: Holder) -> bytes:
    return h.client.get("x")  # want: R1


async def from_property(h: Holder) -> bytes:
    return h.conn.get("x")  # want: R1


async def from_classmethod() -> bytes:
    h = Holder.make()
    return h.client.get("x")  # want: R1
