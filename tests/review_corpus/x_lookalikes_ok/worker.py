# expect: none
"""Loggers, commands queued on a pipeline, and an in-process dict: none is a coroutine or shared state."""
import logging

import redis.asyncio as aredis

from .stats import info

logger = logging.getLogger(__name__)
FAILED = "failed"


class Worker:
    def __init__(self, pool: aredis.Redis) -> None:
        self.pool = pool
        self.jobs: dict[str, object] = {}

    async def report(self) -> dict:
        logger.info("reporting %s", len(self.jobs))
        async with self.pool.pipeline(transaction=False) as pipe:
            pipe.info(section="Server")
            pipe.info(section="Memory")
            server, memory = await pipe.execute()
        return {"server": server, "memory": memory, "all": await info(self.pool)}

    def sweep_local(self, job_id: str) -> None:
        job = self.jobs.get(job_id)
        if job is not None and getattr(job, "status", None) == "running":
            job.finish(FAILED)

    def log_line(self, text: str) -> None:
        logger.info(text)
        self.other.info(text)
