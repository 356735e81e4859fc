# expect: R5:6
"""R5 positive: a queue worker that can only be killed."""


async def worker(r, handle) -> None:
    while True:  # want: R5
        item = await r.blpop("queue", timeout=1)
        if item:
            await handle(item)
