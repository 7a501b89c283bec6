"""What a restore checks an object against, found before its first byte is written.

An object written by this release records its size, its CRC-32C and one
CRC-32C per 1 MiB block (:mod:`gps3async.core.integrity.blocks`): in its user
metadata when it was one PutObject, otherwise in its companion document.  A
restore reads that record before writing anything, checks every block of a
range before writing the range, and checks the whole-object CRC-32C too.

Objects without block digests keep what they had: an earlier release's object
is checked against its whole-object CRC-32C at the end; a Go plugin object
(no metadata, no companion) against its ETag when that is an MD5 or an MD5 of
part MD5s (:mod:`gps3async.core.integrity.etags`), the part sizes found with
``HEAD ?partNumber=``.  Anything else is restored unchecked, and the log says
why: a valid backup never fails because its ETag is not an MD5.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from ..core.errors import IntegrityError
from ..core.integrity.blocks import BLOCK_SIZE_NAME, BadBlock, BlockList, BlockListError
from ..core.integrity.checksums import DIGEST_SUFFIX, Crc32cChain, check_digest, expected_digest, parse_document_fields
from ..core.integrity.etags import EtagDigest, PartMd5Stream, etag_is_md5, parse_etag, uniform_part_sizes

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..s3.storage import ObjectStore, RangeRead

__all__ = ["ObjectRecord", "WholeObjectCheck", "bad_block_error", "read_record"]

log = logging.getLogger("gps3async")


@dataclass
class ObjectRecord:
    """What the backup (or the store) recorded about one object's bytes."""

    where: str
    object_size: int
    #: The recorded ``(crc32c, size)``; ``None`` for Go plugin objects.
    whole: tuple[int, int] | None = None
    blocks: BlockList | None = None
    #: The ETag's MD5 and the part sizes it covers, for objects with no digest of ours.
    etag: EtagDigest | None = None
    part_sizes: tuple[int, ...] = ()
    #: Why the bytes are not checked at all (logged).
    unchecked: str = ""
    requests: int = field(default=0)

    def check_size(self) -> None:
        """:raises IntegrityError: before any byte is written, when the object's size is not the recorded one."""
        recorded = self.whole[1] if self.whole is not None else None
        if recorded is not None and recorded != self.object_size:
            raise IntegrityError(
                f"{self.where}: the object holds {self.object_size} bytes but the backup recorded {recorded}"
            )

    def describe(self) -> str:
        if self.blocks is not None:
            return (
                f"checked block by block ({len(self.blocks.crcs)} blocks of {self.blocks.block_size} bytes) and whole"
            )
        if self.whole is not None:
            return "checked whole against its CRC-32C (no block digests: an earlier release's backup)"
        if self.etag is not None:
            return f"checked against its ETag {self.etag} at the end (no digests of ours: a Go plugin backup)"
        return f"not checked: {self.unchecked}"


def bad_block_error(where: str, bad: BadBlock) -> IntegrityError:
    return IntegrityError(f"{where}: {bad.where()} does not match the backup's CRC-32C ({bad.crcs()})")


class WholeObjectCheck:
    """The whole-object checks, fed each range in write order: the CRC-32C, or the ETag's MD5.

    :meth:`add` checks when the last byte arrives, before the caller writes
    the last range; :meth:`finish` covers an empty object.
    """

    def __init__(self, record: ObjectRecord) -> None:
        self.record = record
        self.chain = Crc32cChain()
        self.md5: PartMd5Stream | None = None
        self.done = False
        if record.whole is None and record.etag is not None:
            self.md5 = PartMd5Stream(record.part_sizes, multipart=record.etag.parts > 0)

    @property
    def wants_crc(self) -> bool:
        return self.record.whole is not None

    async def add(self, view: memoryview, crc: int) -> None:
        self.chain.append(crc, len(view))
        if self.md5 is not None:
            await anyio.to_thread.run_sync(self.md5.update, view)
        if self.chain.length >= self.record.object_size:
            self.finish()

    def finish(self) -> None:
        if self.done:
            return
        self.done = True
        record = self.record
        if record.whole is not None:
            check_digest(record.where, record.whole, self.chain)
        elif self.md5 is not None and record.etag is not None:
            seen = self.md5.result()
            if seen != record.etag:
                if record.etag.parts:
                    what = f"parts 1-{record.etag.parts} do not match the ETag's MD5 of part MD5s"
                else:
                    what = "the bytes do not match the ETag's MD5"
                raise IntegrityError(f"{record.where}: {what} (expected {record.etag}, seen {seen})")

    @property
    def verified(self) -> bool:
        return self.done and (self.record.whole is not None or self.md5 is not None)


async def read_record(
    store: ObjectStore, key: str, head: RangeRead, *, fits_first: bool, whole: bool = True
) -> ObjectRecord:
    """Find what ``key`` is checked against, given its first ranged GET (or HEAD) ``head``.

    ``fits_first``: the first GET holds the whole object, so a small object
    whose CRC-32C is in its metadata needs nothing more.  ``whole`` false: a
    subset of the object is restored, so only block digests can be checked.
    """
    where = f"GetObject {store.url(key)}"
    record = ObjectRecord(where, head.object_size, expected_digest(head.metadata))
    record.blocks = _blocks(where, head.metadata, head.object_size)
    if record.blocks is None and _companion_may_help(record, head, fits_first=fits_first):
        document = await store.get_small_object(key + DIGEST_SUFFIX)
        record.requests += 1
        if document is not None:
            fields = parse_document_fields(document)
            record.whole = record.whole or expected_digest(fields)
            record.blocks = _blocks(where + DIGEST_SUFFIX, fields, head.object_size)
    if record.whole is None and record.blocks is None and whole:
        await _etag_record(store, key, head, record)
    if record.blocks is not None and record.whole is not None and record.blocks.size != record.whole[1]:
        raise IntegrityError(f"{where}: the block list covers {record.blocks.size} bytes, the backup {record.whole[1]}")
    if whole:
        log.info("%s: %s", where, record.describe())
    elif record.blocks is None:
        log.info("%s: no block digests recorded: the ranges restored are not checked", where)
    return record


def _blocks(where: str, fields: Mapping[str, str], size: int) -> BlockList | None:
    recorded = fields.get("gps3async-size", "")
    try:
        return BlockList.from_fields(fields, int(recorded) if recorded.isdigit() else size)
    except BlockListError as err:
        raise IntegrityError(f"{where}: unreadable block list ({err})") from None


def _companion_may_help(record: ObjectRecord, head: RangeRead, *, fits_first: bool) -> bool:
    """Whether the companion document is worth a request before the first byte is written."""
    if record.whole is not None:
        # A PutObject with its CRC-32C in metadata: the first GET checks a small one whole; a larger one
        # has its block list in a companion when it was too long for metadata, and then says so with
        # gps3async-block-size alone (earlier releases: neither, and the whole CRC-32C is checked at the end).
        return not fits_first and BLOCK_SIZE_NAME in head.metadata
    if fits_first:
        # No metadata: a multipart upload (ours has a companion) or the Go plugin's.  A plain-MD5 ETag is
        # a PutObject's (or a store that hashes the whole object): the MD5 checks it before it is written.
        etag = parse_etag(head.etag)
        return etag is None or etag.parts > 0
    return True


async def _etag_record(store: ObjectStore, key: str, head: RangeRead, record: ObjectRecord) -> None:
    """Set ``record.etag`` and the part sizes when the ETag of a digest-less object can be checked."""
    if not etag_is_md5(head.server_side_encryption, head.sse_customer_algorithm):
        encryption = "SSE-C" if head.sse_customer_algorithm else f"SSE-KMS ({head.server_side_encryption})"
        record.unchecked = f"no digests recorded, and under {encryption} its ETag is not an MD5"
        return
    etag = parse_etag(head.etag)
    if etag is None:
        record.unchecked = f"no digests recorded, and its ETag {head.etag!r} is neither an MD5 nor an MD5 of part MD5s"
        return
    if etag.parts == 0:
        record.etag, record.part_sizes = etag, (head.object_size,)
        return
    sizes = await _part_sizes(store, key, head, etag.parts, record)
    if sizes is None:
        record.unchecked = f"no digests recorded, and the sizes of the {etag.parts} parts its ETag covers are unknown"
        return
    record.etag, record.part_sizes = etag, sizes


async def _part_sizes(
    store: ObjectStore, key: str, head: RangeRead, parts: int, record: ObjectRecord
) -> tuple[int, ...] | None:
    """The part sizes: from part 1 and the object's size when uniform (the Go plugin's), else every part's HEAD."""
    if_match = head.etag or None
    first = await store.head_part(key, 1, if_match=if_match)
    record.requests += 1
    if first.parts_count not in (0, parts):
        return None
    sizes = uniform_part_sizes(head.object_size, first.length, parts)
    if sizes is not None or first.parts_count == 0:
        return sizes  # a store that does not say the part count ignored partNumber: nothing more to ask
    found = [first.length] + [0] * (parts - 1)
    limiter = anyio.CapacityLimiter(8)

    async def size_of(number: int) -> None:
        async with limiter:
            found[number - 1] = (await store.head_part(key, number, if_match=if_match)).length

    async with anyio.create_task_group() as tg:
        for number in range(2, parts + 1):
            tg.start_soon(size_of, number)
    record.requests += parts - 1
    return tuple(found) if sum(found) == head.object_size else None
