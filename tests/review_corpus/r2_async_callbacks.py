# expect: R2:21 R2:22 R2:23
"""R2 positive: an async def handed to APIs that call their callback synchronously."""
import asyncio
import atexit
import signal


async def on_terminate(signum, frame) -> None:
    await asyncio.sleep(0)


async def shutdown() -> None:
    await asyncio.sleep(0)


async def flush_logs() -> None:
    await asyncio.sleep(0)


def install(loop: asyncio.AbstractEventLoop) -> None:
    signal.signal(signal.SIGTERM, on_terminate)  # want: R2
    loop.add_signal_handler(signal.SIGINT, shutdown)  # want: R2
    atexit.register(flush_logs)  # want: R2
