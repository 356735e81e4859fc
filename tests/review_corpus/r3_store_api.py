# expect: R3:16 R3:22
"""R3 positive: the same race through a store API, in sync code."""
from enum import Enum


class Status(str, Enum):
    RUNNING = "RUNNING"
    DONE = "DONE"
    FAIL = "FAIL"


def sweep(store, doc_ids: list[str]) -> None:
    for doc_id in doc_ids:
        doc = store.get_document(doc_id)
        if doc.status == Status.RUNNING and not store.incomplete_tasks(doc_id):
            store.set_status(doc_id, Status.FAIL)  # want: R3


def expire(store, doc_id: str) -> None:
    pending = store.count_pending(doc_id)
    if pending == 0:
        store.mark_failed(doc_id)  # want: R3
