# expect: R3:24
"""R3 positive: MULTI/EXEC without WATCH, the FAILED written by a helper queued into the pipeline."""
from redis import Redis


def record_failure(job_id: str, pipeline) -> None:
    pipeline.hset(f"job:{job_id}", "status", "FAILED")
    pipeline.zadd("failed", {job_id: 1})


class StartedRegistry:
    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def expired_ids(self, now: float) -> list:
        return self.connection.zrangebyscore("started", 0, now)

    def cleanup(self, now: float) -> None:
        job_ids = self.expired_ids(now)
        with self.connection.pipeline() as pipeline:
            for job_id in job_ids:
                if self.connection.hget(f"job:{job_id}", "status") != "STARTED":
                    continue
                record_failure(job_id, pipeline)  # want: R3
            pipeline.zremrangebyscore("started", 0, now)
            pipeline.execute()
