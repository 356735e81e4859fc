# expect: none
"""R1 negative: blocking calls in plain sync code, and look-alikes in async code."""
import time

import requests


def fetch_page(url: str) -> str:
    time.sleep(0.1)
    return requests.get(url, timeout=5).text


async def lookup(settings: dict, cache) -> str:
    timeout = settings.get("timeout", 5)
    cache.set("last", timeout)
    return str(timeout)


class Conversation:
    def __init__(self) -> None:
        self.chat_history: list[str] = []

    async def remember(self, line: str) -> None:
        self.chat_history.append(line)
        self.chat_log(line)

    def chat_log(self, line: str) -> None:
        print(line)
