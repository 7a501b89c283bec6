"""The byte source and sinks that encrypt and decrypt around the transfer pipelines (I/O).

:class:`SealingSource` is a :class:`~gps3async.transfer.upload.ByteSource` that reads
plaintext and yields the encrypted object (header, then sealed segments), so
the upload pipeline moves ciphertext without knowing it.  :class:`OpeningSink`
is the :class:`~gps3async.transfer.download.ByteSink` of a whole-object restore: it
looks at the object's first bytes, passes a plain object through unchanged and
opens an encrypted one segment by segment, writing a segment's plaintext only
after its tag verified.  :class:`SubsetOpeningSink` does the same for the
segments a ranged restore fetched and writes the wanted pieces of them.

Sealing and opening run in worker threads, :data:`BATCH_SEGMENTS` segments per
hop (AES-GCM on 1 MiB is about a third of a millisecond), so the event loop
keeps the requests moving.  Each stream holds, besides the pipeline's pool,
one staging buffer of :data:`BATCH_SEGMENTS` segments and one spill (or carry)
buffer of a stored segment: about 5 MiB, however long the stream.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio

from ...core.encryption.format import (
    HEADER_SIZE,
    MAGIC,
    SALT_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    Header,
    SegmentCipher,
    is_encrypted,
)
from ...core.encryption.keys import no_key
from ...core.errors import IntegrityError
from ...runtime.buffers import new_buffer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ...core.encryption.keys import Keyring
    from ...core.encryption.ranges import SegmentFetch
    from ..download import ByteSink
    from ..upload import ByteSource

__all__ = [
    "BATCH_SEGMENTS",
    "CIPHER_STREAM_BYTES",
    "OpeningSink",
    "SealingSource",
    "SubsetOpeningSink",
    "open_cipher",
    "sealing_source",
]

#: Segments sealed or opened per worker-thread hop (and plaintext read per stdin read).
BATCH_SEGMENTS = 4
#: What one encrypted stream holds beside its transfer pool, for as long as it runs: a staging (or
#: plaintext) buffer of :data:`BATCH_SEGMENTS` segments and a spill (or carry) of one stored segment.
#: Reserved from the host's memory budget together with the pool's admission.
CIPHER_STREAM_BYTES = BATCH_SEGMENTS * SEGMENT_SIZE + SEGMENT_SIZE + TAG_SIZE


def sealing_source(plain: ByteSource, keyring: Keyring, name: str, where: str) -> SealingSource:
    """``plain`` encrypted under the keyring's current key, with a fresh random salt (a new object key)."""
    assert keyring.current is not None
    header = Header(SEGMENT_SIZE, keyring.current.fingerprint, os.urandom(SALT_SIZE))
    return SealingSource(plain, SegmentCipher(keyring.current, header, name, where))


def open_cipher(
    header_bytes: bytes | bytearray | memoryview, keyring: Keyring | None, name: str, where: str
) -> SegmentCipher:
    """The cipher of an object with this header, from the key whose fingerprint it records.

    :raises EncryptionKeyError: when no configured key has that fingerprint.
    :raises IntegrityError: for a header this version cannot read.
    """
    header = Header.parse(header_bytes, where)
    key = keyring.find(header.fingerprint) if keyring is not None else None
    if key is None:
        raise no_key(where, header.fingerprint, keyring)
    return SegmentCipher(key, header, name, where)


class SealingSource:
    """The encrypted object as a byte stream: the header, then ``plain`` sealed segment by segment."""

    def __init__(self, plain: ByteSource, cipher: SegmentCipher) -> None:
        self._plain = plain
        self._cipher = cipher
        size = cipher.layout.segment_size
        self._staging = new_buffer(BATCH_SEGMENTS * size)
        self._staged = self._taken = 0
        self._spill = new_buffer(size + TAG_SIZE)
        #: Stored bytes due before anything more is sealed (the header, then a segment's spilt tail).
        self._pending = memoryview(cipher.header.pack())
        self._input_ended = self._sealed_last = False
        self._index = 0
        #: Plaintext bytes read from ``plain``.
        self.plain_bytes = 0

    async def readinto(self, buf: bytearray) -> int:
        """Fill ``buf`` with the next stored bytes, completely unless the object ends."""
        view = memoryview(buf)
        filled = 0
        while filled < len(view):
            if self._pending:
                moved = min(len(self._pending), len(view) - filled)
                view[filled : filled + moved] = self._pending[:moved]
                self._pending = self._pending[moved:]
                filled += moved
            elif self._sealed_last:
                break
            elif self._taken == self._staged and not self._input_ended:
                self._staged = await self._plain.readinto(self._staging)
                self._taken = 0
                self.plain_bytes += self._staged
                self._input_ended = self._staged < len(self._staging)
            else:
                filled += await anyio.to_thread.run_sync(self._seal_some, view[filled:])
        return filled

    def _seal_some(self, out: memoryview) -> int:
        """Seal staged segments into ``out`` (the one that does not fit goes to the spill); return bytes written."""
        size, written = self._cipher.layout.segment_size, 0
        while written < len(out) and not self._sealed_last and not self._pending:
            available = self._staged - self._taken
            if available == 0 and not self._input_ended:
                break
            length = min(size, available)
            last = length < size  # short, the empty one included: only where the input ended
            stored = length + TAG_SIZE
            plain = memoryview(self._staging)[self._taken : self._taken + length]
            room = len(out) - written
            if stored <= room:
                self._cipher.seal_into(self._index, last, plain, out[written : written + stored])
                written += stored
            else:
                spill = memoryview(self._spill)[:stored]
                self._cipher.seal_into(self._index, last, plain, spill)
                out[written:] = spill[:room]
                written += room
                self._pending = spill[room:]
            self._taken += length
            self._index += 1
            self._sealed_last = last
        return written


class _Opener:
    """Opens runs of consecutive segments of one object into a plaintext buffer, off the event loop."""

    def __init__(self, cipher: SegmentCipher) -> None:
        self.cipher = cipher
        self.out = new_buffer(BATCH_SEGMENTS * cipher.layout.segment_size)

    def _open(self, stored: memoryview, first: int, last_is_final: bool) -> int:
        stride, size = self.cipher.layout.stored_segment, self.cipher.layout.segment_size
        out, produced, index = memoryview(self.out), 0, first
        for start in range(0, len(stored), stride):
            piece = stored[start : start + stride]
            final = last_is_final and start + stride >= len(stored)
            if len(piece) < TAG_SIZE or (len(piece) != stride and not final) or len(piece) > size + TAG_SIZE:
                raise IntegrityError(f"{self.cipher.where}: encrypted segment {index} is cut short")
            plain = len(piece) - TAG_SIZE
            self.cipher.open_into(index, final, piece, out[produced : produced + plain])
            produced += plain
            index += 1
        return produced

    async def open(self, stored: memoryview, first: int, *, final: bool) -> memoryview:
        """The plaintext of the segments in ``stored`` (at most :data:`BATCH_SEGMENTS`), each authenticated."""
        produced = await anyio.to_thread.run_sync(self._open, stored, first, final)
        return memoryview(self.out)[:produced]


class OpeningSink:
    """The sink of a whole-object restore: a plain object passes through, an encrypted one is opened.

    Nothing is written before the first bytes showed which it is, and an
    encrypted object's bytes are written only as the plaintext of segments
    whose tags verified.  :meth:`finish` must follow the last write: it opens
    the last segment, so a truncated object fails there.
    """

    def __init__(self, inner: ByteSink, keyring: Keyring | None, name: str, where: str) -> None:
        self._inner = inner
        self._keyring = keyring
        self._name = name
        self._where = where
        self._held = bytearray()
        self._plain: bool | None = None
        self._opener: _Opener | None = None
        self._carry = bytearray()
        self._carried = 0
        self._index = 0
        #: Whether the object was encrypted (known after the first bytes).
        self.encrypted = False
        #: Bytes written to ``inner``.
        self.plain_bytes = 0

    async def _emit(self, data: bytearray | memoryview) -> None:
        if len(data):
            await self._inner.write(data)
            self.plain_bytes += len(data)

    async def write(self, data: bytearray | memoryview) -> None:
        view = memoryview(data)
        if self._plain:
            await self._emit(view)
            return
        if self._plain is None:
            if not self._held and len(view) >= HEADER_SIZE:
                if not is_encrypted(view):
                    self._plain = True
                    await self._emit(view)
                    return
                self._begin(view[:HEADER_SIZE])
                view = view[HEADER_SIZE:]
            else:
                take = min(HEADER_SIZE - len(self._held), len(view))
                self._held += view[:take]
                view = view[take:]
                if bytes(self._held[: len(MAGIC)]) != MAGIC[: min(len(MAGIC), len(self._held))]:
                    self._plain = True
                    await self._emit(self._held)
                    await self._emit(view)
                    return
                if len(self._held) < HEADER_SIZE:
                    return
                self._begin(memoryview(self._held))
        await self._take(view)

    def _begin(self, header: memoryview) -> None:
        cipher = open_cipher(header, self._keyring, self._name, self._where)
        self._plain, self.encrypted = False, True
        self._opener = _Opener(cipher)
        self._carry = new_buffer(cipher.layout.stored_segment)

    async def _take(self, view: memoryview) -> None:
        assert self._opener is not None
        stride = self._opener.cipher.layout.stored_segment
        position = 0
        if self._carried:
            position = min(stride - self._carried, len(view))
            self._carry[self._carried : self._carried + position] = view[:position]
            self._carried += position
            if self._carried < stride:
                return
            await self._open(memoryview(self._carry), 1, final=False)
            self._carried = 0
        while len(view) - position >= stride:
            count = min((len(view) - position) // stride, BATCH_SEGMENTS)
            await self._open(view[position : position + count * stride], count, final=False)
            position += count * stride
        rest = len(view) - position
        if rest:
            self._carry[:rest] = view[position:]
            self._carried = rest

    async def _open(self, stored: memoryview, count: int, *, final: bool) -> None:
        assert self._opener is not None
        plain = await self._opener.open(stored, self._index, final=final)
        self._index += count
        await self._emit(plain)

    async def finish(self) -> None:
        """Open the last segment (or, for a tiny plain object, write what was held).

        :raises IntegrityError: when the encrypted object ends without its last segment.
        """
        if self._plain is None:
            if bytes(self._held[: len(MAGIC)]) == MAGIC:
                raise IntegrityError(f"{self._where}: the encrypted object is truncated inside its header")
            self._plain = True
            await self._emit(self._held)
            return
        if self._plain:
            return
        if self._carried < TAG_SIZE:
            raise IntegrityError(
                f"{self._where}: the encrypted object is truncated (its last segment is missing after segment "
                f"{self._index - 1})"
            )
        await self._open(memoryview(self._carry)[: self._carried], 1, final=True)
        self._carried = 0


class SubsetOpeningSink:
    """The sink of a ranged restore of an encrypted object: each write is one planned :class:`SegmentFetch`."""

    def __init__(self, inner: ByteSink, cipher: SegmentCipher, plain_size: int, stored_size: int,
                 fetches: Iterable[SegmentFetch]) -> None:  # fmt: skip
        self._inner = inner
        self._cipher = cipher
        self._segments = cipher.layout.segments(plain_size)
        self._stored_size = stored_size
        self._fetches = iter(fetches)
        self._opener = _Opener(cipher)
        self.plain_bytes = 0

    async def write(self, data: bytearray | memoryview) -> None:
        fetch = next(self._fetches)
        view = memoryview(data)
        layout = self._cipher.layout
        if len(view) != fetch.stored_range(layout, self._stored_size).length:
            raise IntegrityError(f"{self._cipher.where}: a ranged read of segments {fetch.first}.. came back short")
        size, stride = layout.segment_size, layout.stored_segment
        first = count = 0
        plain = memoryview(b"")
        for piece in fetch.pieces:
            position = piece.start
            while position < piece.end:
                segment = position // size
                if not first <= segment < first + count:
                    first, count = segment, min(BATCH_SEGMENTS, fetch.end - segment)
                    offset = (segment - fetch.first) * stride
                    final = first + count == self._segments
                    plain = await self._opener.open(view[offset : offset + count * stride], first, final=final)
                upto = min(piece.end, (first + count) * size)
                await self._inner.write(plain[position - first * size : upto - first * size])
                self.plain_bytes += upto - position
                position = upto
