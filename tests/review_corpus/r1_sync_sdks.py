# expect: R1:14 R1:20 R1:24 R1:28 R1:33 R1:38
"""R1 positive: the sync OpenAI SDK and sync HTTP clients called on the loop."""
import httpx
import requests
from openai import OpenAI


class Summariser:
    def __init__(self) -> None:
        self.client = OpenAI()
        self.http = httpx.Client(timeout=10)

    async def summarise(self, text: str) -> str:
        reply = self.client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": text}]
        )  # R1 is reported on the call's first line
        return reply.choices[0].message.content

    async def fetch(self, url: str) -> str:
        return self.http.get(url).text  # want: R1


async def ping(url: str) -> int:
    return httpx.get(url).status_code  # want: R1


async def post_result(url: str, body: dict) -> None:
    requests.post(url, json=body, timeout=5)  # want: R1


async def with_session(url: str) -> str:
    session = requests.Session()
    return session.get(url).text  # want: R1


async def embed(text: str) -> list:
    client = OpenAI()
    return client.embeddings.create(model="e", input=text).data  # want: R1
