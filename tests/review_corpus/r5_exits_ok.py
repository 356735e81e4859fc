# expect: none
"""R5 negative: while True loops that end by themselves."""


def process_lines(handle) -> int:
    count = 0
    while True:
        line = handle.readline()
        if not line:
            break
        count += 1
    return count


async def poll_until_ready(service) -> str:
    while True:
        status = await service.status()
        if status == "ready":
            return status


def poll_events(source):
    while True:
        yield source.next_event()
