"""Pipelines (b) and (c): byte ranges of one object, fetched concurrently, written in order.

A dispatcher walks the ranges, borrows a pool buffer for each, starts its GET
and queues a slot; the writer (the task group body) takes slots in queue
order, waits for each to fill, writes it and returns the buffer.  Order comes
from the queue, the memory bound from the pool, and the request bound from a
limiter, so ``concurrency`` GETs run while one buffer is being written.  Any
failure cancels the group: the sink holds only an in-order prefix.

Callers choose the ranges: a whole object (``restore_data``, ``restore_file``)
or the pieces of an offsets file (``restore_data_subset``).

Nothing unverified is written.  A whole-object restore learns the object's
record (:mod:`gps3async.transfer.restorecheck`) before its first byte is written and
fetches ranges on block boundaries; each range's blocks are checked in the
worker thread that computes its CRC-32C (one pass), and a bad block fails the
restore with only the blocks before it written.  The whole-object CRC-32C (or
a Go plugin object's ETag MD5) is checked before the last range is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio
import crc32c

from ..core.errors import IntegrityError
from ..core.integrity.blocks import BLOCK_SIZE, BadBlock, BlockList, align_down, check_span
from ..core.plan import ByteRange, Fetch, plan_ranges
from ..runtime.bandwidth import paced
from ..runtime.buffers import BufferPool, MemoryBudget
from ..runtime.groups import first_failure
from ..runtime.offload import digest_off_loop
from .restorecheck import WholeObjectCheck, bad_block_error, read_record

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.abc import ObjectSendStream

    from ..s3.storage import ObjectStore

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
    #: Whether the whole object was checked against a record (a CRC-32C, or a Go plugin object's ETag).
    verified: bool = False
    #: Blocks checked against their recorded CRC-32C before being written.
    blocks_checked: int = 0
    #: Requests for the object's record (its companion document, ``HEAD ?partNumber=``), beside ``requests``.
    record_requests: int = 0


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
    #: The first block that failed its check: only the bytes before it are written, then the restore fails.
    bad: BadBlock | None = None


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


def _before(keep: tuple[ByteRange, ...], end: int) -> tuple[ByteRange, ...]:
    """The parts of ``keep`` before object offset ``end``."""
    return tuple(ByteRange(piece.start, min(piece.end, end)) for piece in keep if piece.start < end)


async def _examine(
    slot: _Slot, view: memoryview, blocks: BlockList | None, want_crc: bool, stats: DownloadStats
) -> None:
    """Check the blocks ``view`` (the bytes of ``slot.rng``) holds whole, and keep what is to be written.

    One worker-thread pass computes the range's CRC-32C and its blocks'.
    """
    if blocks is not None:
        found = await digest_off_loop(len(view), check_span, blocks, view, slot.rng.start)
        slot.crc32c, slot.bad = found.crc32c, found.bad
        stats.blocks_checked += found.checked
    elif want_crc:
        slot.crc32c = await digest_off_loop(len(view), crc32c.crc32c, view)
    keep = slot.keep
    if slot.bad is not None:  # the verified blocks before the bad one may still be written
        keep = _before(keep or (slot.rng,), slot.bad.start)
    if keep is not None:
        view = view[: _gather(view, slot.rng.start, keep)]
        if want_crc and slot.bad is None:  # only a first range cut short of a block size it was not rounded to
            slot.crc32c = await digest_off_loop(len(view), crc32c.crc32c, view)
    slot.length = len(view)


async def _deliver(
    slot: _Slot, sink: ByteSink, stats: DownloadStats, whole: WholeObjectCheck | None, where: str
) -> None:
    """Write a filled slot's bytes; the whole-object check sees the last range before it is written."""
    view = memoryview(slot.buf)[: slot.length]
    try:
        if slot.bad is None and whole is not None:
            await whole.add(view, slot.crc32c)
        if slot.length:
            await sink.write(view)
        stats.size += slot.length
    finally:
        view.release()
    if slot.bad is not None:
        raise bad_block_error(where, slot.bad)


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
    blocks: BlockList | None = None,
    whole: WholeObjectCheck | None = None,
) -> None:
    """Write the bytes of ``ranges`` (each at most ``pool.size`` long) to ``sink`` in order.

    A :class:`~gps3async.core.plan.Fetch` is one GET of which only some pieces are
    written (``restore_data_subset`` reading through small gaps); the pieces
    are moved together in the buffer after the GET, so each still takes one
    write.  With ``blocks``, every block a GET reads whole is checked before
    any of its bytes are written (in a worker thread, so ranges are checked in
    parallel).  With ``whole``, each range's CRC-32C is folded in write order
    into the whole object's.
    """
    limiter = anyio.CapacityLimiter(concurrency)
    send, receive = anyio.create_memory_object_stream[_Slot](pool.statistics().buffers)
    want_crc = whole is not None and whole.wants_crc
    where = f"GetObject {store.url(key)}"

    async def fetch(slot: _Slot) -> None:
        async with limiter:
            stats.in_flight += 1
            stats.requests += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
            try:
                view = memoryview(slot.buf)[: slot.rng.length]
                get = partial(store.get_range_into, key, slot.rng, view, if_match=etag)
                got = await paced(slot.rng.length, get)  # the host's budget and back-off (gps3async.runtime.bandwidth)
            finally:
                stats.in_flight -= 1
        if got.length != slot.rng.length:
            raise IntegrityError(f"{where}: range {slot.rng.header()} returned {got.length} bytes")
        await _examine(slot, view, blocks, want_crc, stats)
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
                    await _deliver(slot, sink, stats, whole, where)
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
    block_size: int = BLOCK_SIZE,
    extra_memory: int = 0,
) -> DownloadStats:
    """Stream a whole object to ``sink``, every byte checked before it is written.

    The first ranged GET also tells the size, ETag and metadata, so a small
    object costs one request; the rest is fetched pinned to that ETag
    (``If-Match``), so an object replaced mid-restore fails instead of mixing
    two versions.  ``chunksize`` is rounded down to whole blocks of
    ``block_size`` (at least one), so every range holds whole blocks.
    ``memory`` is the agent's host-wide budget the buffers are drawn from;
    ``extra_memory`` what ``sink`` holds beside the pool (reserved with it).
    """
    async with BufferPool(concurrency + 1, align_down(chunksize, block_size), memory, extra=extra_memory) as pool:
        return await _restore_with(store, key, sink, pool, concurrency)


async def _restore_with(
    store: ObjectStore, key: str, sink: ByteSink, pool: BufferPool, concurrency: int
) -> DownloadStats:
    stats = DownloadStats()
    first = await pool.acquire()
    head = await paced(pool.size, partial(store.get_range_into, key, ByteRange(0, pool.size), memoryview(first)))
    stats.requests, stats.etag = 1, head.etag
    fits_first = head.object_size <= head.length
    record = await read_record(store, key, head, fits_first=fits_first)
    stats.record_requests = record.requests
    record.check_size()
    whole = WholeObjectCheck(record)
    blocks = record.blocks
    # Ranges start on the record's block boundaries (a block size other than the one the chunk size was
    # rounded to: the first range's trailing part-block is fetched again with the rest).
    block_size = blocks.block_size if blocks is not None and blocks.block_size <= pool.size else 1
    written = head.length if fits_first else head.length - head.length % block_size
    slot = _Slot(ByteRange(0, head.length), first)
    if written < head.length:
        slot.keep = (ByteRange(0, written),)
    with memoryview(first) as view:
        await _examine(slot, view[: head.length], blocks, whole.wants_crc, stats)
    await _deliver(slot, sink, stats, whole, record.where)
    pool.release(first)
    if head.object_size > written:
        rest = plan_ranges(ByteRange(written, head.object_size), align_down(pool.size, block_size))
        await download_ranges(
            store, key, rest, sink, pool=pool, concurrency=concurrency, etag=head.etag or None, stats=stats,
            blocks=blocks, whole=whole,
        )  # fmt: skip
    stats.peak_buffered_bytes = max(stats.peak_buffered_bytes, pool.statistics().peak_in_use * pool.size)
    if stats.size != head.object_size:
        raise IntegrityError(f"{record.where}: wrote {stats.size} of {head.object_size} bytes")
    whole.finish()
    stats.verified = whole.verified
    return stats
