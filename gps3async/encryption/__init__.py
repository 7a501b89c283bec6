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

__all__ = ["OpeningSink", "SealingSource", "load_keyring", "object_name", "sealing_source"]


def sealing_source(plain: ByteSource, keyring: Keyring, name: str, where: str) -> SealingSource:
    """``plain`` encrypted under the keyring's current key, with a fresh random salt (a new object key)."""
    assert keyring.current is not None
    header = Header(SEGMENT_SIZE, keyring.current.fingerprint, os.urandom(SALT_SIZE))
    return SealingSource(plain, SegmentCipher(keyring.current, header, name, where))
