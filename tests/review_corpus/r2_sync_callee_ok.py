# expect: none
"""R2 negative: a sync callee called from async code, and async defs handed to async-aware APIs."""
import asyncio


def checksum(data: bytes) -> int:
    return sum(data) % 255


async def upload(data: bytes) -> int:
    await asyncio.sleep(0)
    return checksum(data)


async def retry(make_call, attempts: int = 3):
    for _ in range(attempts):
        try:
            return await make_call()
        except ConnectionError:
            await asyncio.sleep(0.1)
    raise ConnectionError("gave up")


async def main() -> None:
    await asyncio.wait_for(upload(b"abc"), timeout=5)
    await retry(lambda: upload(b"xyz"))
