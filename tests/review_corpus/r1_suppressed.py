# expect: none
"""R1 negative: a deliberate blocking call, suppressed with a comment (a lab demo)."""
import time


async def demo_stall() -> None:
    time.sleep(0.9)  # labkit: ignore[R1] - this demo blocks the loop on purpose


async def demo_stall_again() -> None:
    # labkit: ignore[R1]
    time.sleep(0.9)
