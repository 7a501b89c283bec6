"""A fixed pool of equal-sized ``bytearray`` buffers (the only data memory a transfer uses).

Buffers are allocated once, lent out by :meth:`BufferPool.acquire` and handed
back with :meth:`BufferPool.release`; a borrower that finds the pool empty
waits.  Memory is therefore ``count x size`` by construction, whatever the
stream length, and :meth:`statistics` lets tests check the bound.
"""

from __future__ import annotations

from typing import NamedTuple

import anyio

__all__ = ["BufferPool", "PoolStatistics"]


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
        self._free = [bytearray(size) for _ in range(count)]
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
