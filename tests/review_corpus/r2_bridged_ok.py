# expect: none
"""R2 negative: sync code that uses the right bridges into async code."""
import asyncio
import threading


async def main() -> None:
    await asyncio.sleep(0)


async def job(n: int) -> int:
    await asyncio.sleep(0)
    return n


def from_worker_thread(loop: asyncio.AbstractEventLoop) -> int:
    future = asyncio.run_coroutine_threadsafe(job(1), loop)
    return future.result(timeout=5)


def run_batch() -> list[int]:
    coros = [job(n) for n in range(3)]

    async def gather_all() -> list[int]:
        return list(await asyncio.gather(*coros))

    return asyncio.run(gather_all())


def start_thread(loop: asyncio.AbstractEventLoop) -> None:
    threading.Thread(target=from_worker_thread, args=(loop,)).start()


if __name__ == "__main__":
    asyncio.run(main())
