# expect: none
"""R1 negative: ``read_bytes`` on a stream returns a future; only a Path's reads the disk."""


class Connection:
    def __init__(self, stream) -> None:
        self.stream = stream

    async def read_chunk(self, size: int) -> bytes:
        future = self.stream.read_bytes(size, partial=True)
        return await future
