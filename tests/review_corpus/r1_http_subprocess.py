# expect: R1:10 R1:15 R1:20
"""R1 positive: a sync HTTP client, urllib and subprocess inside async code."""
import subprocess
import urllib.request

import requests


async def fetch_page(url: str) -> str:
    response = requests.get(url, timeout=5)  # want: R1
    return response.text


async def ping(url: str) -> int:
    with urllib.request.urlopen(url) as reply:  # want: R1
        return reply.status


async def convert(path: str) -> None:
    subprocess.run(["pandoc", path, "-o", "out.pdf"], check=True)  # want: R1
