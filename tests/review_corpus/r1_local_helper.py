# expect: R1:20 R1:21
"""R1 positive: a sync helper in this module that blocks, called straight from async code."""
import time


def wait_for_disk() -> None:
    time.sleep(1.0)


def prepare() -> None:
    wait_for_disk()


class Ingest:
    def parse(self, blob: bytes) -> str:
        time.sleep(0.2)
        return blob.decode()

    async def handle(self, blob: bytes) -> str:
        prepare()  # want: R1
        return self.parse(blob)  # want: R1
