"""Pipeline (a): a byte stream of unknown length into one S3 object.

The producer fills pool buffers from the source one whole part at a time and
hands each over an unbuffered memory stream to a fixed set of workers, which
upload it and give the buffer back.  Memory is the pool; in-flight requests
are the workers.  A stream that ends inside the first part becomes one
PutObject (the empty stream included).  A multipart upload that does not
complete is aborted in shielded clean-up, on errors and cancellation alike.

Every body's digests come from one worker-thread hop that also cuts it at
1 MiB block boundaries (:mod:`gps3async.core.integrity.blocks`); the blocks' CRC-32Cs
are kept (4 bytes per MiB, 4 MiB per TiB) until the object's record is written:
user metadata beside a small PutObject's CRC-32C, otherwise the companion
document written after CompleteMultipartUpload.

When the part schedule grows the part size (:class:`~gps3async.core.plan.PartSchedule`)
the tier's pool is rebuilt with larger buffers and fewer of them, keeping the
byte budget ``chunksize x (concurrency + 1)`` where a part still fits twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

import anyio

from ..core.integrity.blocks import BLOCK_SIZE, BLOCK_SIZE_NAME, BlockList, BlockListBuilder, SpanDigest
from ..core.integrity.checksums import DIGEST_SUFFIX, Crc32cChain, digest_document, digest_fields
from ..core.plan import PartSchedule
from ..runtime.bandwidth import paced
from ..runtime.buffers import BufferPool, MemoryBudget, PoolBuffer
from ..runtime.groups import first_failure

if TYPE_CHECKING:
    from collections.abc import Iterable

    from anyio.streams.memory import MemoryObjectReceiveStream

    from ..s3.storage import CompletedPart, ObjectStore

__all__ = ["ByteSource", "UploadStats", "upload_stream"]

log = logging.getLogger("gps3async")

#: How long an abort may take before the original error is reported anyway.
ABORT_TIMEOUT = 30.0


class ByteSource(Protocol):
    async def readinto(self, buf: bytearray) -> int: ...


@dataclass
class UploadStats:
    """What an upload did; the peaks let tests check the memory and request bounds."""

    size: int = 0
    parts: int = 0
    peak_buffered_bytes: int = 0
    peak_in_flight: int = 0
    in_flight: int = 0
    completed: list[CompletedPart] = field(default_factory=list)


@dataclass
class _Part:
    number: int
    buf: bytearray
    length: int
    #: The part's first byte's offset in the object (blocks are cut on object offsets).
    start: int


def _body(buf: bytearray, length: int) -> bytearray:
    """The request body for the first ``length`` bytes of a pool buffer.

    A full buffer goes as it is.  A short one (the last part, or a stream that
    fits in one PutObject) is the one copy an upload makes: botocore refuses a
    ``memoryview``, and turns ``bytes`` into a BytesIO (read whole by the HTTP
    layer, another copy, and sent after an ``Expect: 100-continue`` round
    trip), so the copy stays a :class:`PoolBuffer`.
    """
    return buf if length == len(buf) else PoolBuffer(memoryview(buf)[:length])


def _tier_pool(schedule: PartSchedule, number: int, budget: int, memory: MemoryBudget | None, extra: int) -> BufferPool:
    size = schedule.part_size(number)
    return BufferPool(max(2, budget // size), size, memory, extra=extra)


async def upload_stream(
    store: ObjectStore,
    key: str,
    source: ByteSource,
    *,
    chunksize: int,
    concurrency: int,
    schedule: PartSchedule | None = None,
    memory: MemoryBudget | None = None,
    block_size: int = BLOCK_SIZE,
    extra_memory: int = 0,
) -> UploadStats:
    """Upload everything ``source`` yields to ``key``; return what it took.

    ``memory`` is the agent's host-wide budget the part buffers are drawn from;
    ``block_size`` the span of each recorded block CRC-32C (tests shrink it);
    ``extra_memory`` what ``source`` holds beside the pool (reserved with it).
    """
    schedule = schedule or PartSchedule(chunksize)
    budget = chunksize * (concurrency + 1)
    async with _tier_pool(schedule, 1, budget, memory, extra_memory) as pool:
        return await _upload_from(store, key, source, schedule, budget, pool, memory, block_size, extra_memory)


async def _upload_from(
    store: ObjectStore,
    key: str,
    source: ByteSource,
    schedule: PartSchedule,
    budget: int,
    pool: BufferPool,
    memory: MemoryBudget | None,
    block_size: int,
    extra_memory: int,
) -> UploadStats:
    stats = UploadStats()
    first = await pool.acquire()
    length = await source.readinto(first)
    stats.size = length
    stats.peak_buffered_bytes = pool.size
    if length < len(first):
        body = _body(first, length)
        pool.release(first)  # body is a copy; the buffer goes back for the next call to reuse
        digest, span = await store.digest_span(body, 0, block_size)
        blocks = _block_list([span], block_size)
        fields = digest_fields(digest.crc32c, length)
        # A list too long for metadata goes to a companion; the block size alone in metadata says so.
        fields |= blocks.fields() if blocks.fits_metadata() else {BLOCK_SIZE_NAME: str(block_size)}
        await paced(length, partial(store.put_object, key, body, metadata=fields, digest=digest))
        if not blocks.fits_metadata():  # too long for S3's 2 KB of metadata: a companion, as a multipart object has
            await store.put_object(
                key + DIGEST_SUFFIX, digest_document(digest.crc32c, length, blocks.fields()), metadata={}
            )
        stats.parts = 1
        return stats
    upload_id = await store.create_multipart_upload(key)
    try:
        upload = _MultipartUpload(store, key, upload_id, source, stats, memory, block_size, extra_memory)
        await upload.send_all(schedule, budget, pool, _Part(1, first, length, 0))
        parts = sorted(stats.completed, key=lambda part: part.number)
        await store.complete_multipart_upload(key, upload_id, parts)
    except BaseException:
        with anyio.move_on_after(ABORT_TIMEOUT, shield=True):
            try:
                await store.abort_multipart_upload(key, upload_id)
            except Exception as err:  # noqa: BLE001 - the original failure matters more
                log.warning("could not abort multipart upload of %s: %s", key, err)
        raise
    stats.parts = len(stats.completed)
    blocks = _block_list((upload.spans[part.number] for part in parts), block_size)
    upload.spans.clear()  # 4 bytes per MiB held until here; the document's text replaces them
    document = digest_document(_whole_crc(parts), stats.size, blocks.fields())
    await store.put_object(key + DIGEST_SUFFIX, document, metadata={})
    return stats


def _block_list(spans: Iterable[SpanDigest], block_size: int) -> BlockList:
    """The object's block CRC-32Cs, folded from its parts' pieces in object order (no second pass)."""
    builder = BlockListBuilder(block_size)
    for span in spans:
        builder.add(span)
    return builder.finish()


def _whole_crc(parts: list[CompletedPart]) -> int:
    """The object's CRC-32C, folded from the parts' own (no second pass over the bytes)."""
    chain = Crc32cChain()
    for part in parts:
        chain.append(part.crc32c, part.length)
    return chain.value


@dataclass
class _MultipartUpload:
    """One multipart upload in progress: the parts of ``source`` go to ``upload_id``."""

    store: ObjectStore
    key: str
    upload_id: str
    source: ByteSource
    stats: UploadStats
    memory: MemoryBudget | None
    block_size: int
    #: What the source holds beside the pool, reserved with each tier's pool.
    extra_memory: int
    #: Each part's block pieces, by part number, until the record is written (parts finish in any order).
    spans: dict[int, SpanDigest] = field(default_factory=dict)

    async def send_all(self, schedule: PartSchedule, budget: int, pool: BufferPool, first: _Part) -> None:
        """Upload every part, tier by tier (a tier's parts share one size and one pool)."""
        last = schedule.last_part_of_tier(schedule.tier_of(1))
        number, ended = await self.send_tier(pool, first, 2, last)
        self._note_peak(pool)
        while not ended:
            schedule.part_size(number)  # raises PartLimitExceeded past the last part
            log.warning(
                "%s: %d parts uploaded; parts grow to %d bytes to stay within S3's %d-part limit, using fewer "
                "requests in flight to keep memory bounded (a larger backup_multipart_chunksize avoids this)",
                self.key, number - 1, schedule.part_size(number), schedule.max_parts,
            )  # fmt: skip
            pool.close()  # idempotent: hands the smaller buffers back before the larger ones are admitted
            async with _tier_pool(schedule, number, budget, self.memory, self.extra_memory) as pool:
                last = schedule.last_part_of_tier(schedule.tier_of(number))
                number, ended = await self.send_tier(pool, None, number, last)
                self._note_peak(pool)

    def _note_peak(self, pool: BufferPool) -> None:
        self.stats.peak_buffered_bytes = max(self.stats.peak_buffered_bytes, pool.statistics().peak_in_use * pool.size)

    async def send_tier(self, pool: BufferPool, pending: _Part | None, number: int, last: int) -> tuple[int, bool]:
        """Upload parts ``number..last`` (after ``pending``); return the next number and whether input ended."""
        send, receive = anyio.create_memory_object_stream[_Part](0)
        with first_failure():
            async with anyio.create_task_group() as tg:
                for _ in range(pool.statistics().buffers - 1):
                    tg.start_soon(self.send_parts, receive.clone(), pool)
                receive.close()
                async with send:
                    if pending is not None:
                        await send.send(pending)
                    while number <= last:
                        buf = await pool.acquire()
                        length = await self.source.readinto(buf)
                        start = self.stats.size
                        self.stats.size += length
                        if length == 0:
                            pool.release(buf)
                            return number, True
                        await send.send(_Part(number, buf, length, start))
                        number += 1
                        if length < len(buf):
                            return number, True
        return number, False

    async def send_parts(self, receive: MemoryObjectReceiveStream[_Part], pool: BufferPool) -> None:
        """A worker: upload the parts it receives, one request at a time."""
        stats = self.stats
        async with receive:
            async for part in receive:
                body = _body(part.buf, part.length)
                digest, self.spans[part.number] = await self.store.digest_span(body, part.start, self.block_size)
                stats.in_flight += 1
                stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
                try:
                    send = partial(self.store.upload_part, self.key, self.upload_id, part.number, body, digest=digest)
                    stats.completed.append(await paced(len(body), send))  # the host's budget and back-off
                finally:
                    stats.in_flight -= 1
                pool.release(part.buf)
