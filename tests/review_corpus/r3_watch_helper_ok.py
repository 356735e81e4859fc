# expect: none
"""R3 negative: the same cleanup WATCHing the job, and a requeue that claims the entry by removing it."""
from redis import Redis, WatchError


def record_failure(job_id: str, pipeline) -> None:
    pipeline.hset(f"job:{job_id}", "status", "FAILED")


class StartedRegistry:
    def __init__(self, connection: Redis) -> None:
        self.connection = connection

    def cleanup(self, now: float) -> None:
        for job_id in self.connection.zrangebyscore("started", 0, now):
            with self.connection.pipeline() as pipe:
                try:
                    pipe.watch(f"job:{job_id}")
                    if pipe.hget(f"job:{job_id}", "status") != "STARTED":
                        continue
                    pipe.multi()
                    record_failure(job_id, pipe)
                    pipe.execute()
                except WatchError:
                    continue

    def requeue_failed(self, job_id: str) -> None:
        status = self.connection.hget(f"job:{job_id}", "status")
        if status != "FAILED":
            return
        if not self.connection.zrem("failed", job_id):
            return  # another requeuer took it first
        self.connection.hset(f"job:{job_id}", "status", "QUEUED")
