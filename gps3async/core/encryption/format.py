"""The encrypted object format, byte for byte (pure: no I/O).

An encrypted object is a 64-byte header followed by sealed segments::

    header   magic "GPS3AENC" (8) | version 1 (1) | cipher 1 = AES-256-GCM (1) | zero (2)
             | segment size S, u32 big-endian (4) | key fingerprint (16) | salt (32)
    segment  AES-256-GCM ciphertext of up to S plaintext bytes | tag (16)

The plaintext is cut into segments of ``S`` bytes; the last segment is the
first one shorter than ``S`` (possibly empty), so every object ends with a
short segment and a stream of exactly ``k x S`` bytes ends with an empty one.
That lets the writer seal without looking ahead, and lets a reader derive the
plaintext size from the stored size alone (:meth:`Layout.plain_size`).

Each object has its own key, HKDF-SHA256 of the configured key with the
header's random 32-byte salt; the nonce of segment ``i`` is ``i`` as 12
big-endian bytes, so no nonce repeats under a key.  The associated data of
segment ``i`` is the whole header, ``i`` (u64 big-endian), a last-segment flag
(one byte, 1 on the last segment) and the object's name (its key without the
configured folder): a flipped bit, a truncated, reordered or spliced segment,
a header changed in any byte, or an object moved under another name within a
folder all fail the segment's tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import IntegrityError

if TYPE_CHECKING:
    from .keys import SecretKey

__all__ = [
    "CIPHER_AES_256_GCM",
    "HEADER_SIZE",
    "MAGIC",
    "SEGMENT_SIZE",
    "TAG_SIZE",
    "VERSION",
    "Header",
    "Layout",
    "SegmentCipher",
    "is_encrypted",
    "object_name",
]

MAGIC = b"GPS3AENC"
VERSION = 1
CIPHER_AES_256_GCM = 1
HEADER_SIZE = 64
TAG_SIZE = 16
SALT_SIZE = 32
#: Plaintext bytes per segment: large enough that the per-segment cost (a tag, a call) vanishes,
#: small enough that a ranged restore fetches little more than it needs.
SEGMENT_SIZE = 1 << 20
#: Segment sizes a reader accepts in a header (a bound on the buffers a header can ask for).
MIN_SEGMENT_SIZE = 1 << 12
MAX_SEGMENT_SIZE = 1 << 26
_HEADER = struct.Struct(">8sBBHI16s32s")
_OBJECT_KEY_INFO = b"gps3async/aes-256-gcm/v1/object-key"


def object_name(folder: str, key: str) -> str:
    """The name bound into an object's segments: its key without the configured folder.

    Objects keep their names when a backup set is copied to another folder or
    bucket, so it still restores; swapping two objects within a set does not.
    """
    prefix = folder.rstrip("/") + "/"
    return key[len(prefix) :] if folder and key.startswith(prefix) else key


def is_encrypted(first_bytes: bytes | bytearray | memoryview) -> bool:
    """Whether an object starting with these bytes is one of ours, encrypted (at least the magic needed)."""
    return bytes(first_bytes[: len(MAGIC)]) == MAGIC


@dataclass(frozen=True)
class Header:
    segment_size: int
    fingerprint: bytes
    salt: bytes
    version: int = VERSION
    cipher: int = CIPHER_AES_256_GCM

    def pack(self) -> bytes:
        return _HEADER.pack(MAGIC, self.version, self.cipher, 0, self.segment_size, self.fingerprint, self.salt)

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview, where: str) -> Header:
        """:raises IntegrityError: for a header this version cannot read."""
        if len(data) < HEADER_SIZE or not is_encrypted(data):
            raise IntegrityError(f"{where}: the encryption header is cut short ({len(data)} bytes)")
        _magic, version, cipher, reserved, size, fingerprint, salt = _HEADER.unpack(bytes(data[:HEADER_SIZE]))
        if version != VERSION or cipher != CIPHER_AES_256_GCM or reserved != 0:
            raise IntegrityError(
                f"{where}: encryption format version {version}, cipher {cipher} is not one this plugin reads "
                "(a newer gps3async wrote it, or the header was altered)"
            )
        if not MIN_SEGMENT_SIZE <= size <= MAX_SEGMENT_SIZE:
            raise IntegrityError(f"{where}: the encryption header names a segment size of {size} bytes")
        return cls(size, fingerprint, salt, version, cipher)


@dataclass(frozen=True)
class Layout:
    """Where segments lie in a stored object with segments of ``segment_size`` plaintext bytes."""

    segment_size: int

    @property
    def stored_segment(self) -> int:
        return self.segment_size + TAG_SIZE

    def stored_size(self, plain_size: int) -> int:
        full, last = divmod(plain_size, self.segment_size)
        return HEADER_SIZE + full * self.stored_segment + last + TAG_SIZE

    def plain_size(self, stored_size: int, where: str) -> int:
        """The plaintext size of a stored object of ``stored_size`` bytes.

        :raises IntegrityError: when no plaintext gives that size (the object was cut short).
        """
        full, rest = divmod(stored_size - HEADER_SIZE, self.stored_segment)
        if stored_size < HEADER_SIZE + TAG_SIZE or rest < TAG_SIZE:
            raise IntegrityError(f"{where}: the encrypted object is truncated ({stored_size} bytes stored)")
        return full * self.segment_size + rest - TAG_SIZE

    def segments(self, plain_size: int) -> int:
        """How many segments hold ``plain_size`` bytes (always one more than the full ones)."""
        return plain_size // self.segment_size + 1

    def stored_offset(self, segment: int) -> int:
        return HEADER_SIZE + segment * self.stored_segment


class SegmentCipher:
    """Seals and opens the segments of one object (its own key, from the configured key and the salt).

    Each call works on whole segments in caller buffers (no allocation): the
    ``*_into`` methods of ``cryptography``'s AES-GCM, which verify the tag
    before they return.  Safe to use from one worker thread at a time.
    ``cryptography`` is imported here, on first use (about 60 ms), so calls
    that meet no encrypted object never pay for it.
    """

    __slots__ = ("_aead", "_invalid_tag", "_name", "_prefix", "header", "layout", "where")

    def __init__(self, key: SecretKey, header: Header, name: str, where: str) -> None:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        self._invalid_tag = InvalidTag
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=header.salt, info=_OBJECT_KEY_INFO).derive(
            key.material
        )
        self._aead = AESGCM(derived)
        self.header = header
        self.layout = Layout(header.segment_size)
        self._prefix = header.pack()
        self._name = name.encode("utf-8", "surrogateescape")
        self.where = where

    def _aad(self, index: int, last: bool) -> bytes:
        return b"".join((self._prefix, index.to_bytes(8, "big"), b"\x01" if last else b"\x00", self._name))

    def seal_into(self, index: int, last: bool, plain: memoryview, out: memoryview) -> None:
        """Seal one segment: ``out`` must be exactly ``len(plain) + 16`` bytes."""
        self._aead.encrypt_into(index.to_bytes(12, "big"), plain, self._aad(index, last), out)

    def open_into(self, index: int, last: bool, stored: memoryview, out: memoryview) -> None:
        """Open one segment into ``out`` (exactly ``len(stored) - 16`` bytes).

        :raises IntegrityError: when the tag does not verify; ``out`` then holds nothing to use.
        """
        try:
            self._aead.decrypt_into(index.to_bytes(12, "big"), stored, self._aad(index, last), out)
        except self._invalid_tag:
            raise IntegrityError(
                f"{self.where}: encrypted segment {index} failed authentication (altered, truncated, reordered, "
                "copied from another object, or stored under another name); nothing of it was written"
            ) from None
