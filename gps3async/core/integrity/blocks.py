"""Per-block CRC-32Cs: the block list, its encoding, folding and checking (pure).

An object is cut into blocks of :data:`BLOCK_SIZE` bytes on its own byte
offsets (the last block may be short), independently of how it was uploaded.
A backup records one CRC-32C per block; a restore checks every block of a
range before the range is written, so a corrupted block never reaches the
output.

Uploads and restores see the object in spans (parts, ranged GETs) that need
not fall on block boundaries.  :func:`digest_span` cuts a span at block
boundaries and computes each piece's CRC-32C in one pass over the bytes (the
span's own CRC-32C is folded from the pieces with
:func:`~gps3async.core.integrity.checksums.crc32c_combine`, without a second pass);
:class:`BlockListBuilder` joins the pieces of consecutive spans into whole
blocks, combining the two pieces of a block that straddles two parts.

The list costs 4 bytes per block (an ``array('I')``, never a list of ints):
4 MiB per TiB of object.
"""

from __future__ import annotations

import base64
import binascii
import sys
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING

import crc32c

from .checksums import crc32c_combine, encode_crc32c

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from _typeshed import ReadableBuffer

__all__ = [
    "BLOCK_CRC_NAME",
    "BLOCK_SIZE",
    "BLOCK_SIZE_NAME",
    "METADATA_MAX_BLOCKS",
    "BadBlock",
    "BlockList",
    "BlockListBuilder",
    "BlockListError",
    "SpanCheck",
    "SpanDigest",
    "align_down",
    "block_count",
    "check_span",
    "decode_block_crcs",
    "digest_span",
    "encode_block_crcs",
    "piece_bounds",
]

#: 1 MiB: a restore holds at most one range in memory per request anyway, and
#: 4 bytes per MiB keeps the list small (4 MiB per TiB).
BLOCK_SIZE = 1024 * 1024
#: The names beside ``gps3async-crc32c`` / ``gps3async-size`` (metadata or companion document).
BLOCK_SIZE_NAME = "gps3async-block-size"
BLOCK_CRC_NAME = "gps3async-block-crc32c"
#: A single-PutObject object carries its block list as user metadata up to this many blocks
#: (the base64 value is then at most 1,024 characters; with the names and the other two fields
#: about 1.1 KB of S3's 2 KB user-metadata budget, leaving ~900 bytes for anything else).
#: Longer lists go to the companion document, as for multipart objects, and the metadata keeps
#: ``gps3async-block-size`` alone to say so.
METADATA_MAX_BLOCKS = 192


class BlockListError(ValueError):
    """A recorded block list that cannot be read (wrong length, not base64, bad block size)."""


def _crcs(values: ReadableBuffer | None = None) -> array[int]:
    crcs = array("I")
    assert crcs.itemsize == 4, "array('I') must hold 4-byte values"
    if values is not None:
        crcs.frombytes(values)
    return crcs


def block_count(size: int, block_size: int) -> int:
    return -(-size // block_size)


def align_down(value: int, block_size: int) -> int:
    """``value`` rounded down to a multiple of ``block_size``, but at least one block."""
    return max(block_size, value - value % block_size)


def encode_block_crcs(crcs: array[int]) -> str:
    """Base64 of the CRC-32Cs as big-endian 4-byte values, concatenated."""
    raw = array("I", crcs)
    if sys.byteorder == "little":
        raw.byteswap()
    return base64.b64encode(raw.tobytes()).decode("ascii")


def decode_block_crcs(text: str) -> array[int]:
    """The inverse of :func:`encode_block_crcs`.

    :raises BlockListError: when ``text`` is not base64 of a multiple of 4 bytes.
    """
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (ValueError, binascii.Error):
        raise BlockListError("block CRC-32Cs are not base64") from None
    if len(raw) % 4:
        raise BlockListError(f"block CRC-32Cs hold {len(raw)} bytes, not a multiple of 4")
    crcs = _crcs(raw)
    if sys.byteorder == "little":
        crcs.byteswap()
    return crcs


@dataclass(frozen=True)
class BlockList:
    """The CRC-32C of every block of an object of ``size`` bytes."""

    block_size: int
    size: int
    crcs: array[int]

    def __post_init__(self) -> None:
        if self.block_size <= 0:
            raise BlockListError(f"block size {self.block_size} is not positive")
        if len(self.crcs) != block_count(self.size, self.block_size):
            raise BlockListError(
                f"{len(self.crcs)} block CRC-32Cs recorded for {self.size} bytes in blocks of {self.block_size}"
            )

    def block_range(self, index: int) -> tuple[int, int]:
        """The object offsets ``[start, end)`` of block ``index``."""
        start = index * self.block_size
        return start, min(start + self.block_size, self.size)

    def fields(self) -> dict[str, str]:
        """The ``name: value`` pairs recorded beside the whole object's CRC-32C and size."""
        return {BLOCK_SIZE_NAME: str(self.block_size), BLOCK_CRC_NAME: encode_block_crcs(self.crcs)}

    def fits_metadata(self) -> bool:
        return len(self.crcs) <= METADATA_MAX_BLOCKS

    @classmethod
    def from_fields(cls, fields: Mapping[str, str], size: int) -> BlockList | None:
        """The block list recorded in ``fields`` (lower-cased names) for an object of ``size`` bytes.

        ``None`` when none is recorded here: objects from earlier releases and the Go plugin, and a
        PutObject whose list was too long for metadata (its metadata has ``gps3async-block-size``
        alone: the list is in the companion document).

        :raises BlockListError: when one is recorded but cannot be read.
        """
        if BLOCK_CRC_NAME not in fields:
            return None
        block_size = fields.get(BLOCK_SIZE_NAME, "").strip()
        if not block_size.isdigit():
            raise BlockListError(f"{BLOCK_SIZE_NAME} is {block_size!r}, not a number of bytes")
        return cls(int(block_size), size, decode_block_crcs(fields.get(BLOCK_CRC_NAME, "")))


def piece_bounds(start: int, length: int, block_size: int) -> Iterator[tuple[int, int]]:
    """The object offsets ``[s, e)`` of ``[start, start + length)`` cut at block boundaries."""
    end = start + length
    while start < end:
        stop = min(end, (start // block_size + 1) * block_size)
        yield start, stop
        start = stop


@dataclass(frozen=True)
class SpanDigest:
    """The CRC-32Cs of a span of an object: the whole span's, and each of its pieces' (see :func:`piece_bounds`)."""

    start: int
    length: int
    crc32c: int
    pieces: array[int]


def digest_span(data: bytes | bytearray | memoryview, start: int, block_size: int = BLOCK_SIZE) -> SpanDigest:
    """The digests of ``data``, which sits at object offset ``start``: one pass over the bytes.

    Meant for a worker thread (crc32c releases the GIL for large buffers).
    """
    view = memoryview(data)
    pieces = _crcs()
    whole = 0
    for piece_start, piece_end in piece_bounds(start, len(view), block_size):
        crc = crc32c.crc32c(view[piece_start - start : piece_end - start])
        pieces.append(crc)
        whole = crc32c_combine(whole, crc, piece_end - piece_start)
    return SpanDigest(start, len(view), whole, pieces)


class BlockListBuilder:
    """Folds the :class:`SpanDigest` of consecutive spans, in object order, into a :class:`BlockList`."""

    def __init__(self, block_size: int = BLOCK_SIZE) -> None:
        self.block_size = block_size
        self.size = 0
        self._crcs = _crcs()
        self._pending_crc = 0
        self._pending_length = 0

    def add(self, span: SpanDigest) -> None:
        if span.start != self.size:
            raise ValueError(f"span at {span.start} does not follow the {self.size} bytes folded so far")
        bounds = piece_bounds(span.start, span.length, self.block_size)
        for (piece_start, piece_end), crc in zip(bounds, span.pieces, strict=True):
            length = piece_end - piece_start
            if self._pending_length:  # the block began in an earlier span: combine, no second pass
                self._pending_crc = crc32c_combine(self._pending_crc, crc, length)
                self._pending_length += length
            else:
                self._pending_crc, self._pending_length = crc, length
            if self._pending_length == self.block_size:
                self._crcs.append(self._pending_crc)
                self._pending_length = 0
        self.size += span.length

    def finish(self) -> BlockList:
        if self._pending_length:
            self._crcs.append(self._pending_crc)
            self._pending_length = 0
        return BlockList(self.block_size, self.size, self._crcs)


@dataclass(frozen=True)
class BadBlock:
    """A block whose bytes differ from the backup's record."""

    index: int
    start: int
    end: int
    expected: int
    seen: int

    def where(self) -> str:
        """``block N (bytes S-E)``, inclusive end like an HTTP range."""
        return f"block {self.index} (bytes {self.start}-{self.end - 1})"

    def crcs(self) -> str:
        return f"expected CRC-32C {encode_crc32c(self.expected)}, seen {encode_crc32c(self.seen)}"


@dataclass(frozen=True)
class SpanCheck:
    """What :func:`check_span` found: the span's CRC-32C, the whole blocks checked, and the first bad one."""

    crc32c: int
    checked: int
    bad: BadBlock | None


def check_span(blocks: BlockList, data: bytes | bytearray | memoryview, start: int) -> SpanCheck:
    """Check every block ``data`` (at object offset ``start``) holds whole; one pass over the bytes.

    Blocks the span holds only part of are not checked (``checked`` counts
    those that were); the span's CRC-32C comes back for the whole-object check.
    """
    digest = digest_span(data, start, blocks.block_size)
    checked = 0
    bounds = piece_bounds(start, digest.length, blocks.block_size)
    for (piece_start, piece_end), seen in zip(bounds, digest.pieces, strict=True):
        index = piece_start // blocks.block_size
        if index >= len(blocks.crcs):
            break  # past the recorded size: the caller's size check reports it
        block_start, block_end = blocks.block_range(index)
        if piece_start != block_start or piece_end != block_end:
            continue
        checked += 1
        expected = blocks.crcs[index]
        if seen != expected:
            return SpanCheck(digest.crc32c, checked, BadBlock(index, block_start, block_end, expected, seen))
    return SpanCheck(digest.crc32c, checked, None)
