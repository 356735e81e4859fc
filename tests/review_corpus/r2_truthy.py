# expect: R2:10 R2:17
"""R2 positive: a coroutine tested for truth is always true."""


async def is_ready(service) -> bool:
    return await service.ping()


async def start(service) -> str:
    if is_ready(service):  # want: R2
        return "ready"
    await is_ready(service)
    return "waiting"


async def must_be_ready(service) -> None:
    assert not is_ready(service) or True  # want: R2
