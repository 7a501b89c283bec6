"""Restores that must know an object's encryption before they plan their reads (I/O).

A whole-object restore needs no plan of its own: :class:`~.streams.OpeningSink`
decides from the first bytes.  A ranged restore does: for an encrypted object
the wanted plaintext ranges become GETs of the segments that cover them.  So
``restore_data_subset`` first reads the header's 64 bytes (the same one request
its HeadObject was, and it tells the size and ETag too), then plans.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...core.encryption.format import HEADER_SIZE, is_encrypted
from ...core.encryption.ranges import plan_segment_fetches
from ...core.errors import IntegrityError
from ...core.plan import SUBSET_MAX_GAP, ByteRange
from ...runtime.buffers import BufferPool, MemoryBudget
from ..download import DownloadStats, download_ranges, restore_object
from .streams import CIPHER_STREAM_BYTES, OpeningSink, SubsetOpeningSink, open_cipher

if TYPE_CHECKING:
    from ...core.encryption.keys import Keyring
    from ...s3.storage import ObjectStore, RangeRead
    from ..download import ByteSink

__all__ = ["authenticate_object", "is_encrypted", "open_in_memory", "read_head", "restore_encrypted_ranges"]


async def read_head(store: ObjectStore, key: str) -> tuple[RangeRead, bytes]:
    """The object's size, ETag and metadata, and its first (up to 64) bytes, in one GET."""
    probe = bytearray(HEADER_SIZE)
    head = await store.get_range_into(key, ByteRange(0, HEADER_SIZE), memoryview(probe))
    return head, bytes(probe[: head.length])


async def restore_encrypted_ranges(
    store: ObjectStore,
    key: str,
    head: RangeRead,
    first: bytes,
    wanted: list[ByteRange],
    sink: ByteSink,
    *,
    keyring: Keyring | None,
    name: str,
    chunksize: int,
    concurrency: int,
    memory: MemoryBudget | None,
    stats: DownloadStats,
) -> int:
    """Write the plaintext ``wanted`` ranges of an encrypted object, fetching only their segments.

    Returns the plaintext bytes written.

    :raises EncryptionKeyError: before anything is fetched, when no configured key opens the object.
    """
    where = store.url(key)
    cipher = open_cipher(first, keyring, name, where)
    layout = cipher.layout
    plain_size = layout.plain_size(head.object_size, where)
    beyond = [rng for rng in wanted if rng.end > plain_size]
    if beyond:
        raise IntegrityError(
            f"{where} holds {plain_size} bytes (encrypted); offsets ask for [{beyond[0].start}, {beyond[0].end})"
        )
    per_get = max(1, chunksize // layout.stored_segment)
    gap = max(1, SUBSET_MAX_GAP // layout.segment_size)
    fetches = list(plan_segment_fetches(wanted, layout, max_segments=per_get, max_gap_segments=gap))
    opening = SubsetOpeningSink(sink, cipher, plain_size, head.object_size, fetches)
    spans = [fetch.stored_range(layout, head.object_size) for fetch in fetches]
    # The opener's plaintext buffer is reserved with the pool (CIPHER_STREAM_BYTES bounds it).
    async with BufferPool(concurrency + 1, per_get * layout.stored_segment, memory, extra=CIPHER_STREAM_BYTES) as pool:
        await download_ranges(
            store, key, spans, opening, pool=pool, concurrency=concurrency, etag=head.etag or None, stats=stats
        )
    return opening.plain_bytes


class _Discard:
    """A sink that keeps nothing: authentication without output."""

    async def write(self, data: bytearray | memoryview) -> None:
        return None


async def authenticate_object(
    store: ObjectStore,
    key: str,
    *,
    keyring: Keyring | None,
    name: str,
    chunksize: int,
    concurrency: int,
    memory: MemoryBudget | None = None,
) -> tuple[bool, int]:
    """Read a whole object as a restore would, writing nothing: whether it is encrypted, and its plaintext size.

    For a deep verify: the recorded CRC-32C of the stored bytes is checked as in
    every restore, and an encrypted object's every segment is authenticated.

    :raises IntegrityError: for a digest mismatch, a segment that fails authentication, or truncation.
    :raises EncryptionKeyError: when the object is encrypted and no configured key opens it.
    """
    sink = OpeningSink(_Discard(), keyring, name, store.url(key))
    await restore_object(store, key, sink, chunksize=chunksize, concurrency=concurrency, memory=memory)
    await sink.finish()
    return sink.encrypted, sink.plain_bytes


class _Collected:
    """Keeps the plaintext of a small object opened whole."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytearray | memoryview) -> None:
        self.data += data


async def open_in_memory(body: bytes, keyring: Keyring | None, name: str, where: str) -> bytes:
    """The plaintext of a small encrypted object read whole (a backup's config or TOC file).

    :raises EncryptionKeyError: when none of the keys opens it.
    :raises IntegrityError: when a segment fails authentication or the object is cut short.
    """
    collected = _Collected()
    opening = OpeningSink(collected, keyring, name, where)
    await opening.write(bytearray(body))
    await opening.finish()
    return bytes(collected.data)
