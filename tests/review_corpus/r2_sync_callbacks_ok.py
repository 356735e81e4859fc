# expect: none
"""R2 negative: sync callables given to sync-callback APIs; they schedule or set, never await."""
import asyncio
import atexit
import signal

stop = asyncio.Event()


async def drain() -> None:
    await asyncio.sleep(0)


def on_terminate(signum, frame) -> None:
    stop.set()


def on_click(button) -> None:
    asyncio.get_running_loop().create_task(drain())


def say_goodbye() -> None:
    print("bye")


def install(loop: asyncio.AbstractEventLoop, button) -> None:
    signal.signal(signal.SIGTERM, on_terminate)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    atexit.register(say_goodbye)
    button.on_click(on_click)
