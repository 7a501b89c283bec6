"""Part buffers: a pool per transfer, and a budget shared by every pool of one agent.

A :class:`BufferPool` lends at most ``count`` equal-sized ``bytearray`` buffers;
a borrower that finds them all lent out waits.  Buffers are made on first need,
so a 1 KiB stream touches one buffer, not ``count``.  Memory is therefore at
most ``count x size`` by construction, whatever the stream length, and
:meth:`BufferPool.statistics` lets tests check the bound.

In the agent, many streams run in one process, so every pool also draws from
one :class:`MemoryBudget` (``host_memory_limit``).  A pool is admitted only
once the budget can promise it two buffers, enough for one part moving while
the next is filled, so every admitted stream can always progress and streams
cannot deadlock one another; it takes more buffers, up to ``count``, only while
the budget has room and nobody is waiting to be admitted.  Buffers a finished
pool gives back are kept (within the budget) for the next pool of the same
size: per-table calls then reuse warm memory instead of zero-filling a new
part buffer each time.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, NamedTuple

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

__all__ = ["BudgetTooSmall", "BufferPool", "MemoryBudget", "PoolBuffer", "PoolStatistics", "new_buffer"]

#: Buffers a pool must be promised before it is admitted under a budget.
ADMISSION_BUFFERS = 2


class PoolBuffer(bytearray):
    """A pool buffer: a ``bytearray`` whose slices are zero-copy ``memoryview`` objects.

    Slicing one never copies a part (aiohttp, the HTTP client before
    :mod:`gps3async.s3.http`, sent bodies as ``body[:content_length]``; the
    HTTP layer sends a ``memoryview`` of the buffer).  It must stay a
    ``bytearray`` (not a ``memoryview``) because botocore accepts no
    ``memoryview`` body and turns ``bytes`` into a file object.
    """

    def __getitem__(self, index):  # type: ignore[no-untyped-def] # narrower than bytearray's overloads on purpose
        if isinstance(index, slice):
            return memoryview(self)[index]
        return super().__getitem__(index)


def _resizer() -> Callable[[bytearray, int], int] | None:
    """CPython's ``PyByteArray_Resize``, which grows a ``bytearray`` without writing to it."""
    try:
        import ctypes

        resize = ctypes.pythonapi.PyByteArray_Resize
    except (ImportError, AttributeError):  # another interpreter, or ctypes unavailable
        return None
    resize.argtypes = (ctypes.py_object, ctypes.c_ssize_t)
    resize.restype = ctypes.c_int
    return resize


_resize = _resizer()


def new_buffer(size: int) -> PoolBuffer:
    """A ``size``-byte :class:`PoolBuffer` whose pages the kernel supplies only when first written.

    ``bytearray(size)`` zero-fills, touching every page: 16 MiB of RSS and a
    few milliseconds of CPU for a part buffer, even when the call moves 1 KiB.
    Resized from empty instead, a large buffer is a fresh anonymous mapping
    whose untouched pages cost nothing.  Its contents start undefined, which
    is safe: every user fills a buffer before it reads the filled length.
    """
    buf = PoolBuffer()
    if _resize is not None and _resize(buf, size) == 0 and len(buf) == size:
        return buf
    return PoolBuffer(size)


class PoolStatistics(NamedTuple):
    buffers: int
    size: int
    in_use: int
    peak_in_use: int
    #: Buffers actually made (lazily), at most ``buffers``.
    allocated: int = 0


class BudgetTooSmall(ValueError):
    """A pool could never be admitted: two of its buffers exceed the whole budget."""


class _Waiter:
    __slots__ = ("event", "granted", "nbytes")

    def __init__(self, nbytes: int) -> None:
        self.nbytes = nbytes
        self.granted = False
        self.event = anyio.Event()


class MemoryBudget:
    """Bytes all pools of one process may reserve together (``limit=None``: no limit).

    ``reserved`` counts what admitted pools may use; ``idle`` buffers kept for
    reuse count too and are dropped first when a reservation needs the room,
    so ``reserved + idle`` never exceeds ``limit``.
    """

    def __init__(self, limit: int | None, *, keep_idle: int) -> None:
        self.limit = limit
        self.reserved = 0
        self.peak_reserved = 0
        self._keep_idle = keep_idle if limit is None else min(keep_idle, limit)
        self._idle: dict[int, list[PoolBuffer]] = {}
        self._idle_bytes = 0
        self._waiters: deque[_Waiter] = deque()

    def _fits(self, nbytes: int) -> bool:
        return self.limit is None or self.reserved + nbytes <= self.limit

    def _grant(self, nbytes: int) -> None:
        self.reserved += nbytes
        self.peak_reserved = max(self.peak_reserved, self.reserved)
        if self.limit is not None:
            self._drop_idle(self.limit - self.reserved)

    async def reserve(self, nbytes: int) -> None:
        """Wait until ``nbytes`` can be reserved, first come first served.

        :raises BudgetTooSmall: when ``nbytes`` exceeds the whole limit.
        """
        if self.limit is not None and nbytes > self.limit:
            raise BudgetTooSmall(
                f"host_memory_limit is {self.limit} bytes, less than the {nbytes} bytes one stream needs "
                f"({ADMISSION_BUFFERS} part buffers and any fixed buffers of its own); raise it or lower the "
                "multipart chunk size"
            )
        if not self._waiters and self._fits(nbytes):
            self._grant(nbytes)
            return
        waiter = _Waiter(nbytes)
        self._waiters.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.granted:
                self.release(nbytes)
            else:
                self._waiters.remove(waiter)
                self._admit_waiters()
            raise

    def try_reserve(self, nbytes: int) -> bool:
        """Reserve ``nbytes`` now if it fits and no pool is waiting to be admitted."""
        if self._waiters or not self._fits(nbytes):
            return False
        self._grant(nbytes)
        return True

    def release(self, nbytes: int) -> None:
        self.reserved -= nbytes
        self._admit_waiters()

    def _admit_waiters(self) -> None:
        while self._waiters and self._fits(self._waiters[0].nbytes):
            waiter = self._waiters.popleft()
            waiter.granted = True
            self._grant(waiter.nbytes)
            waiter.event.set()

    def take(self, size: int) -> PoolBuffer:
        """A buffer of ``size`` bytes: a kept one if there is one, else a new one."""
        kept = self._idle.get(size)
        if kept:
            self._idle_bytes -= size
            return kept.pop()
        return new_buffer(size)

    def keep(self, buf: PoolBuffer) -> None:
        """Keep a buffer a pool no longer needs, while idle buffers fit the budget."""
        size = len(buf)
        room = self._keep_idle if self.limit is None else min(self._keep_idle, self.limit - self.reserved)
        if self._idle_bytes + size <= room:
            self._idle.setdefault(size, []).append(buf)
            self._idle_bytes += size

    def _drop_idle(self, room: int) -> None:
        for size, kept in self._idle.items():
            while kept and self._idle_bytes > room:
                kept.pop()
                self._idle_bytes -= size

    def trim(self) -> None:
        """Free every kept buffer (the agent does this when it has been idle a while)."""
        self._idle.clear()
        self._idle_bytes = 0

    @property
    def idle_bytes(self) -> int:
        return self._idle_bytes


class BufferPool:
    """Lends up to ``count`` buffers of ``size`` bytes, made on first need.

    With a ``budget``, use it as ``async with pool:`` (admission and return of
    the reservation); without one, entering is optional.  ``extra`` is memory
    the pool's user holds beside the pool for as long as the pool is open (an
    encrypted stream's staging buffers): it is reserved in the same step as
    the pool's admission, since a stream holding ``extra`` while it waits to
    be admitted could starve the streams whose buffers it waits for.
    """

    def __init__(self, count: int, size: int, budget: MemoryBudget | None = None, *, extra: int = 0) -> None:
        if count < 1 or size < 1:
            raise ValueError("a buffer pool needs at least one buffer of at least one byte")
        self._size = size
        self._count = count
        self._budget = budget
        self._free: list[PoolBuffer] = []
        self._allocated = 0
        self._granted = 0 if budget is not None else count
        self._extra = extra
        self._in_use = 0
        self._peak = 0
        self._returned = anyio.Event()

    @property
    def size(self) -> int:
        return self._size

    async def __aenter__(self) -> BufferPool:
        if self._budget is not None and self._granted == 0:
            wanted = min(ADMISSION_BUFFERS, self._count)
            await self._budget.reserve(wanted * self._size + self._extra)
            self._granted = wanted
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Give idle buffers and the reservation back to the budget."""
        if self._budget is None or self._granted == 0:
            return
        for buf in self._free:
            self._budget.keep(buf)
        self._free.clear()
        self._budget.release(self._granted * self._size + self._extra)
        self._granted = 0

    def _may_make_another(self) -> bool:
        if self._allocated >= self._count:
            return False
        if self._allocated < self._granted:
            return True
        if self._budget is not None and self._budget.try_reserve(self._size):
            self._granted += 1
            return True
        return False

    async def acquire(self) -> bytearray:
        """Borrow a buffer, waiting while all the buffers this pool may have are lent out."""
        if self._budget is not None and self._granted == 0:
            raise RuntimeError("a pool with a budget must be entered (async with) before use")
        while not self._free and not self._may_make_another():
            await self._returned.wait()
        if self._free:
            buf = self._free.pop()
        else:
            buf = self._budget.take(self._size) if self._budget is not None else new_buffer(self._size)
            self._allocated += 1
        self._in_use += 1
        self._peak = max(self._peak, self._in_use)
        return buf

    def release(self, buf: bytearray) -> None:
        """Return a buffer obtained from :meth:`acquire`."""
        if len(buf) != self._size or self._in_use == 0 or not isinstance(buf, PoolBuffer):
            raise ValueError("released a buffer this pool did not lend")
        self._in_use -= 1
        self._free.append(buf)
        self._returned.set()
        self._returned = anyio.Event()

    def statistics(self) -> PoolStatistics:
        return PoolStatistics(self._count, self._size, self._in_use, self._peak, self._allocated)
