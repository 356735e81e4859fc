# expect: none
"""R3 negative: writes that do not act on state read earlier, or are not terminal."""
import logging

log = logging.getLogger(__name__)


def finish_task(r, task_key: str, worker) -> None:
    payload = r.hget(task_key, "payload")
    result = worker.run(payload)
    r.hset(task_key, mapping={"result": result, "status": "DONE"})


def claim(r, task_key: str) -> None:
    if r.hget(task_key, "status") == "QUEUED":
        r.hset(task_key, "status", "RUNNING")


def report(r, doc_id: str) -> None:
    status = r.hget(f"doc:{doc_id}", "status")
    if status == "FAIL":
        log.info("document %s status FAIL", doc_id)
