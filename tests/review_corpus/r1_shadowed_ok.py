# expect: none
"""R1 negative: names that look blocking but are not the blocking ones."""
from asyncio import sleep


def open(name: str) -> str:  # noqa: A001 - a local function that shadows the builtin
    return f"opened {name}"


async def wait_a_bit() -> None:
    await sleep(1)


async def open_door() -> str:
    return open("door")
