# expect: R4:19 R1:21
"""R4 positive: the blocking work hides in a sync method of the same class."""
import asyncio


class Worker:
    def __init__(self, r, llm) -> None:
        self.r, self.llm = r, llm
        self.stop = asyncio.Event()

    async def heartbeat(self) -> None:
        await self.r.set("hb:w1", "1", px=3000)

    def summarise(self, text: str) -> str:
        return self.llm.chat("Summarise", [text], {})

    async def run(self) -> None:
        while not self.stop.is_set():
            await self.heartbeat()  # want: R4
            text = await self.r.lpop("queue")
            self.summarise(text)  # want: R1
