"""A small async ingestion service with one blocking call hidden inside (notebook 01's detective case).

Every step of :meth:`IngestService.ingest` is an ``async def``, so the code
*looks* non-blocking; one of them calls sync code that holds the event loop.
Reading the code is one way to find it; running it under
:class:`labkit.instruments.loop_monitor.LoopMonitor` and reading the stall's stack is the
reliable one.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Receipt:
    """What ingesting one document produces."""

    doc_id: str
    chunks: int
    checksum: str


def _check_doc_id(doc_id: object) -> str:
    if not isinstance(doc_id, str) or not doc_id:
        raise TypeError(f"doc_id must be a non-empty str, got {doc_id!r}; pass e.g. 'doc-1'")
    return doc_id


class IngestService:
    """fetch -> split -> embed -> save, for one document at a time or many at once."""

    fetch_s = 0.03  # an async HTTP fetch
    embed_s = 0.05  # an async embedding API
    checkpoint_s = 0.25  # a synchronous write + fsync to a network disk

    def __init__(self) -> None:
        self.index: dict[str, tuple[int, ...]] = {}

    async def fetch(self, doc_id: str) -> str:
        await asyncio.sleep(self.fetch_s)
        return f"{doc_id}: " + " ".join(f"sentence {n} of {doc_id}." for n in range(12))

    async def split(self, text: str) -> list[str]:
        words = text.split()
        return [" ".join(words[i : i + 16]) for i in range(0, len(words), 16)]

    async def embed(self, chunks: list[str]) -> tuple[int, ...]:
        await asyncio.sleep(self.embed_s)
        return tuple(int(hashlib.sha256(c.encode()).hexdigest()[:8], 16) for c in chunks)

    def write_checkpoint(self, doc_id: str, vectors: tuple[int, ...]) -> None:
        """Persist the vectors durably before acknowledging (sync: it waits on the disk)."""
        time.sleep(self.checkpoint_s)
        self.index[doc_id] = vectors

    async def save(self, doc_id: str, vectors: tuple[int, ...]) -> None:
        if not vectors:
            raise ValueError(f"{doc_id} produced no vectors; nothing to save")
        self.write_checkpoint(doc_id, vectors)  # labkit: ignore[R1] - the bug notebook 01 asks learners to find

    async def ingest(self, doc_id: str) -> Receipt:
        """Ingest one document and return its receipt."""
        _check_doc_id(doc_id)
        text = await self.fetch(doc_id)
        chunks = await self.split(text)
        vectors = await self.embed(chunks)
        await self.save(doc_id, vectors)
        return Receipt(doc_id, len(chunks), hashlib.sha256(repr(vectors).encode()).hexdigest()[:12])
