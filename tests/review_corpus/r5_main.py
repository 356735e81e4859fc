# expect: R5:7
"""R5 positive: a service main loop; catching Exception is not shutdown handling."""
import asyncio


async def main(app) -> None:
    while True:  # want: R5
        try:
            await app.step()
        except Exception:  # noqa: BLE001
            await asyncio.sleep(1)
