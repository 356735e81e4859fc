# expect: none
"""An ``async def info`` that shares its name with a logger's and a pipeline's ``info``."""
import redis.asyncio as aredis


async def info(pool: aredis.Redis) -> dict:
    return await pool.info()
