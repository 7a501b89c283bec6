"""Client-side encryption: objects the store cannot read, restorable by range.

The pure part: :mod:`.format` (the header, segment layout, key derivation and
the AES-256-GCM sealing of segments), :mod:`.ranges` (plaintext ranges onto
the segments that cover them) and :mod:`.keys` (the options and keyrings).
The I/O part: :mod:`.keyfiles` (reading key files), :mod:`.streams` (the
source and sinks wrapped around the transfer pipelines) and :mod:`.restore`
(ranged restores).  docs/encryption.md describes the format and threat model.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .format import SALT_SIZE, SEGMENT_SIZE, Header, SegmentCipher, object_name
from .keyfiles import load_keyring
from .streams import OpeningSink, SealingSource

if TYPE_CHECKING:
    from ..upload import ByteSource
    from .keys import Keyring

__all__ = ["OpeningSink", "SealingSource", "load_keyring", "object_name", "open_in_memory", "sealing_source"]


def sealing_source(plain: ByteSource, keyring: Keyring, name: str, where: str) -> SealingSource:
    """``plain`` encrypted under the keyring's current key, with a fresh random salt (a new object key)."""
    assert keyring.current is not None
    header = Header(SEGMENT_SIZE, keyring.current.fingerprint, os.urandom(SALT_SIZE))
    return SealingSource(plain, SegmentCipher(keyring.current, header, name, where))


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
