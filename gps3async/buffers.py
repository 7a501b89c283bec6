"""A fixed pool of equal-sized ``bytearray`` buffers (the only data memory a transfer uses).

Buffers are allocated once, lent out by :meth:`BufferPool.acquire` and handed
back with :meth:`BufferPool.release`; a borrower that finds the pool empty
waits.  Memory is therefore ``count x size`` by construction, whatever the
stream length, and :meth:`statistics` lets tests check the bound.
"""

from __future__ import annotations

from typing import NamedTuple

import anyio

__all__ = ["BufferPool", "PoolBuffer", "PoolStatistics"]


class PoolBuffer(bytearray):
    """A pool buffer: a ``bytearray`` whose slices are zero-copy ``memoryview`` objects.

    aiohttp sends a request body as ``body[:content_length]``, which for a
    plain ``bytearray`` copies the whole part: one extra part-sized allocation
    per request in flight, and a memcpy of every byte uploaded.  It must stay
    a ``bytearray`` (not a ``memoryview``) because botocore only rewinds
    bodies it knows for retries.
    """

    def __getitem__(self, index):  # type: ignore[no-untyped-def] # narrower than bytearray's overloads on purpose
        if isinstance(index, slice):
            return memoryview(self)[index]
        return super().__getitem__(index)


class PoolStatistics(NamedTuple):
    buffers: int
    size: int
    in_use: int
    peak_in_use: int


class BufferPool:
    def __init__(self, count: int, size: int) -> None:
        if count < 1 or size < 1:
            raise ValueError("a buffer pool needs at least one buffer of at least one byte")
        self._size = size
        self._count = count
        self._free: list[bytearray] = [PoolBuffer(size) for _ in range(count)]
        self._available = anyio.Semaphore(count)
        self._peak = 0

    @property
    def size(self) -> int:
        return self._size

    async def acquire(self) -> bytearray:
        """Borrow a buffer, waiting while all of them are lent out."""
        await self._available.acquire()
        buf = self._free.pop()
        self._peak = max(self._peak, self._count - len(self._free))
        return buf

    def release(self, buf: bytearray) -> None:
        """Return a buffer obtained from :meth:`acquire`."""
        if len(buf) != self._size or len(self._free) >= self._count:
            raise ValueError("released a buffer this pool did not lend")
        self._free.append(buf)
        self._available.release()

    def statistics(self) -> PoolStatistics:
        in_use = self._count - len(self._free)
        return PoolStatistics(self._count, self._size, in_use, self._peak)
