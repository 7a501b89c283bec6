"""Pipelines (b) and (c): byte ranges of one object, fetched concurrently, written in order.

A dispatcher walks the ranges, borrows a pool buffer for each, starts its GET
and queues a slot; the writer (the task group body) takes slots in queue
order, waits for each to fill, writes it and returns the buffer.  Order comes
from the queue, the memory bound from the pool, and the request bound from a
limiter, so ``concurrency`` GETs run while one buffer is being written.  Any
failure cancels the group: the sink holds only an in-order prefix.

Callers choose the ranges: a whole object (``restore_data``, ``restore_file``)
or the pieces of an offsets file (``restore_data_subset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio
import crc32c

from ._groups import first_failure
from .bandwidth import paced
from .buffers import BufferPool, MemoryBudget
from .checksums import DIGEST_SUFFIX, Crc32cChain, check_digest, expected_digest, parse_digest_document
from .errors import IntegrityError
from .plan import ByteRange, Fetch, plan_ranges

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.abc import ObjectSendStream

    from .storage import ObjectStore

__all__ = ["ByteSink", "DownloadStats", "download_ranges", "restore_object"]


class ByteSink(Protocol):
    async def write(self, data: bytearray | memoryview) -> None: ...


@dataclass
class DownloadStats:
    size: int = 0
    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    etag: str = ""
    peak_buffered_bytes: int = field(default=0)
    #: Whether a recorded CRC-32C was checked (objects from the Go plugin have none).
    verified: bool = False


@dataclass
class _Slot:
    rng: ByteRange
    buf: bytearray
    #: The pieces of ``rng`` to write (None: all of it).
    keep: tuple[ByteRange, ...] | None = None
    filled: anyio.Event = field(default_factory=anyio.Event)
    crc32c: int = 0
    #: Bytes to write from the start of ``buf`` once filled.
    length: int = 0


def _gather(view: memoryview, origin: int, keep: tuple[ByteRange, ...]) -> int:
    """Move the ``keep`` pieces of a buffer holding bytes from ``origin`` on to its front; return their total.

    Pieces are in ascending order, so every move goes towards the front and
    never overwrites a piece still to be moved.
    """
    filled = 0
    for piece in keep:
        offset = piece.start - origin
        if offset != filled:
            view[filled : filled + piece.length] = view[offset : offset + piece.length]
        filled += piece.length
    return filled


async def download_ranges(
    store: ObjectStore,
    key: str,
    ranges: Iterable[ByteRange | Fetch],
    sink: ByteSink,
    *,
    pool: BufferPool,
    concurrency: int,
    etag: str | None,
    stats: DownloadStats,
    chain: Crc32cChain | None = None,
) -> None:
    """Write the bytes of ``ranges`` (each at most ``pool.size`` long) to ``sink`` in order.

    A :class:`~gps3async.plan.Fetch` is one GET of which only some pieces are
    written (``restore_data_subset`` reading through small gaps); the pieces
    are moved together in the buffer after the GET, so each still takes one
    write.  With ``chain``, each range's CRC-32C is computed beside its GET (in a worker
    thread, so ranges are checksummed in parallel) and folded in write order.
    """
    limiter = anyio.CapacityLimiter(concurrency)
    send, receive = anyio.create_memory_object_stream[_Slot](pool.statistics().buffers)

    async def fetch(slot: _Slot) -> None:
        async with limiter:
            stats.in_flight += 1
            stats.requests += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            try:
                view = memoryview(slot.buf)[: slot.rng.length]
                get = partial(store.get_range_into, key, slot.rng, view, if_match=etag)
                got = await paced(slot.rng.length, get)  # the host's budget and back-off (gps3async.bandwidth)
            finally:
                stats.in_flight -= 1
        if got.length != slot.rng.length:
            raise IntegrityError(f"GetObject {store.url(key)}: range {slot.rng.header()} returned {got.length} bytes")
        if slot.keep is not None:
            view = view[: _gather(view, slot.rng.start, slot.keep)]
        slot.length = len(view)
        if chain is not None:
            slot.crc32c = await anyio.to_thread.run_sync(crc32c.crc32c, view)
        slot.filled.set()

    async def dispatch(send: ObjectSendStream[_Slot]) -> None:
        async with send:
            for item in ranges:
                rng, keep = (item.span, item.keep) if isinstance(item, Fetch) else (item, None)
                slot = _Slot(rng, await pool.acquire(), keep)
                tg.start_soon(fetch, slot)
                await send.send(slot)

    with first_failure():
        async with anyio.create_task_group() as tg:
            tg.start_soon(dispatch, send)
            async with receive:
                async for slot in receive:
                    await slot.filled.wait()
                    await sink.write(memoryview(slot.buf)[: slot.length])
                    stats.size += slot.length
                    if chain is not None:
                        chain.append(slot.crc32c, slot.length)
                    pool.release(slot.buf)
    stats.peak_buffered_bytes = max(stats.peak_buffered_bytes, pool.statistics().peak_in_use * pool.size)


async def restore_object(
    store: ObjectStore,
    key: str,
    sink: ByteSink,
    *,
    chunksize: int,
    concurrency: int,
    memory: MemoryBudget | None = None,
) -> DownloadStats:
    """Stream a whole object to ``sink``.

    The first ranged GET also tells the size and ETag, so a small object costs
    one request; the rest is fetched pinned to that ETag (``If-Match``), so an
    object replaced mid-restore fails instead of mixing two versions.
    ``memory`` is the agent's host-wide budget the buffers are drawn from.
    """
    async with BufferPool(concurrency + 1, chunksize, memory) as pool:
        return await _restore_with(store, key, sink, pool, concurrency)


async def _restore_with(
    store: ObjectStore, key: str, sink: ByteSink, pool: BufferPool, concurrency: int
) -> DownloadStats:
    stats, chain, chunksize = DownloadStats(), Crc32cChain(), pool.size
    first = await pool.acquire()
    head = await paced(chunksize, partial(store.get_range_into, key, ByteRange(0, chunksize), memoryview(first)))
    stats.requests, stats.etag = 1, head.etag
    view = memoryview(first)[: head.length]
    chain.append(await anyio.to_thread.run_sync(crc32c.crc32c, view), head.length)
    await sink.write(view)
    del view
    stats.size = head.length
    pool.release(first)
    if head.object_size > head.length:
        rest = plan_ranges(ByteRange(head.length, head.object_size), chunksize)
        await download_ranges(
            store, key, rest, sink, pool=pool, concurrency=concurrency, etag=head.etag or None, stats=stats,
            chain=chain,
        )  # fmt: skip
    stats.peak_buffered_bytes = max(stats.peak_buffered_bytes, pool.statistics().peak_in_use * pool.size)
    if stats.size != head.object_size:
        raise IntegrityError(f"GetObject {store.url(key)}: wrote {stats.size} of {head.object_size} bytes")
    expected = expected_digest(head.metadata)
    if expected is None and head.object_size > head.length:
        document = await store.get_small_object(key + DIGEST_SUFFIX)
        expected = parse_digest_document(document) if document is not None else None
    check_digest(f"GetObject {store.url(key)}", expected, chain)
    stats.verified = expected is not None
    return stats
