# expect: R1:7 R1:12 R1:20
"""R1 positive: a configured blocking name (an LLM's chat), called on the loop."""
import asyncio


async def summarise(llm, text: str) -> str:
    return llm.chat("Summarise this", [text], {})  # want: R1


async def summarise_wrongly_offloaded(llm, text: str) -> str:
    # the call runs before to_thread ever sees it
    return await asyncio.to_thread(llm.chat("Summarise this", [text], {}))  # want: R1


class Agent:
    def __init__(self, model) -> None:
        self.model = model

    async def answer(self, question: str) -> str:
        reply = self.model.chat(question)  # want: R1
        return reply.strip()
