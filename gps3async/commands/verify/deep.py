"""The ``verify --deep`` pass: every object read back whole through the restore path, bytes discarded.

Each object goes through :func:`~gps3async.transfer.download.restore_object`
into a sink that discards it, so the restore path's own checks apply (size,
CRC-32C of the whole object and of every block, a Go-plugin object's ETag),
several objects at once with their buffers drawn from one
:class:`~gps3async.runtime.buffers.MemoryBudget`.  With a key, an encrypted
object is also opened segment by segment
(:class:`~gps3async.transfer.encryption.streams.OpeningSink`, plaintext
discarded), so a wrong key or a tampered segment is a problem line; without a
key its stored bytes are still checked against their digests and a ``NO-KEY``
line says its authenticity was not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import crc32c

from ...core.encryption.format import MAGIC, is_encrypted, object_name
from ...core.errors import EncryptionKeyError, GpS3Error, IntegrityError, ObjectNotFound
from ...core.integrity.checksums import encode_crc32c
from ...core.verify.findings import Finding, Kind, Tally, no_record_reason
from ...runtime.buffers import MemoryBudget
from ...runtime.groups import first_failure
from ...transfer.download import DownloadStats, restore_object
from ...transfer.encryption.streams import CIPHER_STREAM_BYTES, OpeningSink

if TYPE_CHECKING:
    from .shallow import SetCheck, SetObject

__all__ = ["OBJECTS_AT_ONCE", "OPENING_BYTES", "read_all"]

log = logging.getLogger("gps3async")

#: Objects ``--deep`` reads at once (each with up to ``restore_max_concurrent_requests`` ranged GETs).
OBJECTS_AT_ONCE = 8
#: What an :class:`~gps3async.transfer.encryption.streams.OpeningSink` allocates for an encrypted object (its
#: plaintext staging and carry), reserved per object read at once when a key is configured.
OPENING_BYTES = CIPHER_STREAM_BYTES


class _DiscardSink:
    """Counts what a deep read delivers; keeps a CRC-32C when ``restore_object`` would not check one itself.

    The stored bytes are counted and digested; with ``opening`` (a key is
    configured) they also go through it, which authenticates an encrypted
    object's segments and discards their plaintext.
    """

    def __init__(self, *, crc: bool, opening: OpeningSink | None) -> None:
        self.size = 0
        self.crc: int | None = 0 if crc else None
        self.opening = opening
        self._first = bytearray()

    async def write(self, data: bytearray | memoryview) -> None:
        self.size += len(data)
        if self.crc is not None:
            self.crc = crc32c.crc32c(data, self.crc)
        if len(self._first) < len(MAGIC):
            self._first += memoryview(data)[: len(MAGIC) - len(self._first)]
        if self.opening is not None:
            await self.opening.write(data)

    @property
    def encrypted(self) -> bool:
        """Whether the stored bytes begin as an encrypted object does."""
        return is_encrypted(self._first)


class _Discard:
    """Keeps nothing: a deep read opens an encrypted object only to authenticate it."""

    async def write(self, data: bytearray | memoryview) -> None:
        return None


async def read_all(check: SetCheck, objects: list[SetObject], budget: MemoryBudget | None, tally: Tally) -> None:
    """Read every object back whole, :data:`OBJECTS_AT_ONCE` at a time, within one memory budget.

    The agent's host budget is used when it has a limit; otherwise this
    call gets its own, ``host_memory_limit`` or enough for
    :data:`OBJECTS_AT_ONCE` objects at the restore settings (and, with a
    key, their :data:`OPENING_BYTES`).
    """
    config = check.config
    chunksize, concurrency = config.restore_chunksize, config.restore_concurrency
    if budget is None or budget.limit is None:
        limit = config.host_memory_limit or OBJECTS_AT_ONCE * ((concurrency + 1) * chunksize + OPENING_BYTES)
        budget = MemoryBudget(limit, keep_idle=0)
    limiter = anyio.CapacityLimiter(OBJECTS_AT_ONCE)
    reading = peak = 0
    # With a key, each object read at once may open segments: their buffers come out of the same
    # budget, reserved once for all of them (per object, a reader holding them while its pool
    # waits could starve the others' pools).
    opening = OPENING_BYTES * min(OBJECTS_AT_ONCE, len(objects)) if check.keyring is not None else 0
    await budget.reserve(opening)

    async def one(item: SetObject) -> None:
        nonlocal reading, peak
        async with limiter:
            reading += 1
            peak = max(peak, reading)
            try:
                finding = await read_back(check, item, budget, min(chunksize, max(item.size, 1)), concurrency, tally)
            finally:
                reading -= 1
        if finding is not None:
            await check.report(finding)

    try:
        with first_failure():
            async with anyio.create_task_group() as tg:
                for item in objects:
                    tg.start_soon(one, item)
    finally:
        budget.release(opening)
    log.info("verify %s --deep: %d objects read, at most %d at once; buffers peaked at %d bytes of a %s-byte "
             "budget", check.timestamp, len(objects), peak, budget.peak_reserved, budget.limit)  # fmt: skip


async def read_back(
    check: SetCheck, item: SetObject, budget: MemoryBudget, chunksize: int, concurrency: int, tally: Tally
) -> Finding | None:
    """Read one object through the restore path; a finding for what it did not survive.

    A multipart object no larger than one GET is read without its
    companion by ``restore_object`` (it fetches the companion only when a
    second GET is needed), so the sink keeps the CRC-32C here for those.
    """
    url = check.store.url(item.key)
    record = item.record
    own_crc = record is not None and record.source == "companion" and item.size <= chunksize
    opening = None
    if check.keyring is not None:
        opening = OpeningSink(_Discard(), check.keyring, object_name(check.config.folder, item.key), url)
    sink = _DiscardSink(crc=own_crc, opening=opening)
    try:
        stats = await restore_object(check.store, item.key, sink, chunksize=chunksize, concurrency=concurrency,
                                     memory=budget)  # fmt: skip
        if opening is not None:
            await opening.finish()  # the last segment; a truncated object fails here
    except EncryptionKeyError as err:  # encrypted under a key none of the configured ones is
        return Finding(Kind.UNREADABLE, url, str(err).removeprefix(f"{url} ").removeprefix(f"{url}: "))
    except IntegrityError as err:  # its message says what was read and what was recorded (block or part too)
        return Finding(Kind.CORRUPT, url, str(err).removeprefix(f"GetObject {url}: ").removeprefix(f"{url}: "))
    except ObjectNotFound:
        return Finding(Kind.MISSING, url, "listed, then gone while verifying")
    except GpS3Error as err:
        return Finding(Kind.UNREADABLE, url, str(err))
    finally:
        tally.read_bytes += sink.size
    if own_crc and record is not None and (sink.crc != record.crc32c or sink.size != record.size):
        seen = f"{sink.size} bytes, CRC-32C {encode_crc32c(sink.crc or 0)}"
        return Finding(Kind.CORRUPT, url, f"read back {seen}; the backup recorded {record.describe()}",
                       expected=record.describe(), seen=seen)  # fmt: skip
    if record is not None and not (stats.verified or own_crc):
        return Finding(Kind.CORRUPT, url, "its recorded CRC-32C was not found when read back",
                       expected=record.describe(), seen="no record on the object read")  # fmt: skip
    if record is None and not _content_verified(stats):
        return Finding(Kind.UNCHECKED, url, no_record_reason(item.etag, deep=True))
    if opening is None and sink.encrypted:
        return Finding(Kind.NOKEY, url, "encrypted, and no client_side_encryption key is configured: its stored "
                                        "bytes were checked, its authenticity was not")  # fmt: skip
    return None


def _content_verified(stats: DownloadStats) -> bool:
    """Whether the restore path checked the content of an object without a gps3async digest.

    ``restore_object`` checks every digest it finds (the CRC-32C of the whole
    object and of each block, a Go-plugin object's plain-MD5 or
    MD5-of-part-MD5s ETag) and says in ``stats.verified`` whether one was.
    """
    return stats.verified
