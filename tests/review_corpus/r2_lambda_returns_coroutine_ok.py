# expect: none
"""R2 negative: a lambda that returns a coroutine to code that awaits it."""
import asyncio
from typing import Any, Awaitable, Callable


async def is_done(name: str) -> bool:
    await asyncio.sleep(0)
    return name == "d1"


async def wait_for(predicate: Callable[[], Awaitable[Any]], timeout: float) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.01)
    return False


def make_probe(name: str) -> Callable[[], Awaitable[bool]]:
    return lambda: is_done(name)
