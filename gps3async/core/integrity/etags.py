"""What an S3 ETag says about an object's bytes, for objects without block digests (pure).

The Go plugin records no digest of its own; S3 does.  An object written by
one PutObject without SSE-KMS or SSE-C has the MD5 of its bytes as its ETag
(32 hex digits).  A multipart upload's ETag is ``<hex>-N``: the MD5 of the N
parts' binary MD5s, concatenated.  Checking that needs the part sizes; a
store tells the first with ``HEAD ?partNumber=1``, and an uploader that uses
one part size (aws-sdk-go's, the Go plugin's) makes the rest follow from the
object's size (:func:`uniform_part_sizes`).

Other ETags (SSE-KMS and SSE-C objects, stores that use another hash) say
nothing checkable; :func:`parse_etag` returns ``None`` for them and for
encrypted answers :func:`etag_is_md5` says no, so a valid backup never fails
because its ETag is not an MD5.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["EtagDigest", "PartMd5Stream", "etag_is_md5", "parse_etag", "uniform_part_sizes"]

_PLAIN = re.compile(r'^"?([0-9a-fA-F]{32})"?$')
_MULTIPART = re.compile(r'^"?([0-9a-fA-F]{32})-([1-9][0-9]{0,4})"?$')


@dataclass(frozen=True)
class EtagDigest:
    """An ETag of a checkable shape: ``md5`` (lower-case hex) of the bytes (``parts`` 0) or of ``parts`` part MD5s."""

    md5: str
    parts: int = 0

    def __str__(self) -> str:
        return self.md5 if self.parts == 0 else f"{self.md5}-{self.parts}"


def parse_etag(etag: str) -> EtagDigest | None:
    """The digest an ETag states, or ``None`` when it is not a plain MD5 or an MD5 of part MD5s."""
    text = etag.strip()
    plain = _PLAIN.match(text)
    if plain:
        return EtagDigest(plain.group(1).lower())
    multipart = _MULTIPART.match(text)
    if multipart:
        return EtagDigest(multipart.group(1).lower(), int(multipart.group(2)))
    return None


def etag_is_md5(server_side_encryption: str, sse_customer_algorithm: str) -> bool:
    """Whether an object stored so has an MD5 ETag: not under SSE-KMS (``aws:kms``, ``aws:kms:dsse``) nor SSE-C."""
    return not server_side_encryption.lower().startswith("aws:kms") and not sse_customer_algorithm


def uniform_part_sizes(object_size: int, first_part: int, parts: int) -> tuple[int, ...] | None:
    """The part sizes when all parts but the last are ``first_part`` bytes, or ``None`` when that cannot be."""
    if parts < 1 or first_part <= 0:
        return None
    last = object_size - first_part * (parts - 1)
    if not 0 < last <= first_part:
        return None
    return (first_part,) * (parts - 1) + (last,)


class PartMd5Stream:
    """The ETag of bytes given in order: the MD5 of each part (``sizes``), folded as S3 does.

    With ``multipart`` false there is one part and the result is its MD5 (a
    PutObject's ETag).  Meant to be fed from a worker thread: hashlib releases
    the GIL for large buffers.
    """

    def __init__(self, sizes: Sequence[int], *, multipart: bool) -> None:
        self.sizes = tuple(sizes)
        self.multipart = multipart
        self.length = 0
        self._part = 0
        self._left = self.sizes[0] if self.sizes else 0
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._digests = bytearray()

    def update(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.length += len(view)
        while len(view):
            if self._left == 0:
                self._next_part()
            take = min(self._left, len(view)) if self._part < len(self.sizes) else len(view)
            self._md5.update(view[:take])
            self._left -= take
            view = view[take:]

    def _next_part(self) -> None:
        if self._part < len(self.sizes):
            self._digests += self._md5.digest()
            self._md5 = hashlib.md5(usedforsecurity=False)
            self._part += 1
            self._left = self.sizes[self._part] if self._part < len(self.sizes) else 0

    def result(self) -> EtagDigest:
        """The ETag the bytes seen so far would have (call once, after the last byte)."""
        if not self.multipart:
            return EtagDigest(self._md5.hexdigest())
        digests = self._digests + self._md5.digest()
        count = len(digests) // 16
        return EtagDigest(hashlib.md5(digests, usedforsecurity=False).hexdigest(), count)
