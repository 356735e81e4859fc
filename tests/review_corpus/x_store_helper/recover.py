# expect: R3:11
"""The incident's reconciler, writing FAIL through the store's helper; a coroutine dropped by sync code."""
from .store import FAIL, Store


async def reconcile(store: Store) -> None:
    for doc in await store.orphaned_docs():
        if await store.incomplete_tasks(doc):
            continue
        async with store.client.pipeline(transaction=True) as pipe:
            store.add_finish(pipe, doc, FAIL)  # want: R3
            await pipe.execute()


def on_open(store: Store, doc: str) -> None:
    store.touch(doc)  # R2 at Store.touch: its only caller is sync
