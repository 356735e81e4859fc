# expect: none
"""R2 negative: common method names, sync twins and pipelines that look like dropped coroutines."""
import redis.asyncio as aredis


class Connection:
    async def close(self) -> None:
        pass

    async def store(self, key: str) -> None:
        pass


def tidy(path: str) -> None:
    handle = open(path)
    handle.close()


def store(key: str) -> None:
    print(key)


def save(cache) -> None:
    cache.store("k")


async def queue_writes(r: aredis.Redis) -> None:
    pipe = r.pipeline()
    pipe.set("a", 1)
    pipe.set("b", 2)
    await pipe.execute()
