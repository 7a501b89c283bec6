"""CRC-32C arithmetic for end-to-end integrity (pure).

Every part and every ranged GET gets its own CRC-32C (computed where the bytes
are, possibly in parallel); :class:`Crc32cChain` folds those in stream order
into the CRC-32C of the whole object without touching the bytes again, using
zlib's ``crc32_combine`` method for the Castagnoli polynomial: appending ``n`` bytes multiplies the running
CRC by a fixed GF(2) matrix that depends only on ``n``.  The matrices for the
few lengths a transfer uses (the chunk size, the last piece) are cached, so a
combine costs 32 shifts and XORs.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import TYPE_CHECKING

import crc32c

from ..errors import IntegrityError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "DIGEST_NAME",
    "DIGEST_SUFFIX",
    "SIZE_NAME",
    "Crc32cChain",
    "check_digest",
    "crc32c_combine",
    "decode_crc32c",
    "digest_document",
    "digest_fields",
    "encode_crc32c",
    "expected_digest",
    "parse_digest_document",
    "parse_document_fields",
]

_POLYNOMIAL = 0x82F63B78  # CRC-32C (Castagnoli), reflected


def _times(matrix: tuple[int, ...], vector: int) -> int:
    total, row = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[row]
        vector >>= 1
        row += 1
    return total


def _square(matrix: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(_times(matrix, matrix[row]) for row in range(32))


@lru_cache(maxsize=64)
def _append_zeros(length: int) -> tuple[int, ...]:
    """The matrix that advances a CRC over ``length`` zero bytes."""
    operator = (_POLYNOMIAL, *(1 << row for row in range(31)))  # one zero bit
    for _ in range(3):  # one zero byte = eight zero bits
        operator = _square(operator)
    result: tuple[int, ...] | None = None
    while length:
        if length & 1:
            result = operator if result is None else tuple(_times(operator, row) for row in result)
        length >>= 1
        if length:
            operator = _square(operator)
    assert result is not None
    return result


def crc32c_combine(crc1: int, crc2: int, length2: int) -> int:
    """CRC-32C of ``A + B`` from ``crc32c(A)``, ``crc32c(B)`` and ``len(B)``."""
    if length2 == 0:
        return crc1
    return _times(_append_zeros(length2), crc1) ^ crc2


def encode_crc32c(value: int) -> str:
    """S3's representation: the big-endian CRC-32C, base64."""
    return base64.b64encode(value.to_bytes(4, "big")).decode("ascii")


def decode_crc32c(text: str) -> int | None:
    """The inverse of :func:`encode_crc32c`; ``None`` for anything malformed."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        return None
    return int.from_bytes(raw, "big") if len(raw) == 4 else None


class Crc32cChain:
    """The CRC-32C of a stream assembled from pieces, given in stream order."""

    def __init__(self) -> None:
        self.value = crc32c.crc32c(b"")
        self.length = 0

    def append(self, crc: int, length: int) -> None:
        self.value = crc32c_combine(self.value, crc, length)
        self.length += length


#: Where gps3async records an object's CRC-32C and size.  A single PutObject
#: carries them as user metadata.  A multipart upload cannot: its metadata is
#: fixed at CreateMultipartUpload, before the digest is known, and object tags
#: are not safe on every S3-compatible server (rclone 1.75 overwrites the
#: object with the tagging request).  So it gets a small companion object,
#: ``<key>`` + :data:`DIGEST_SUFFIX`, written after the upload completes.
DIGEST_NAME = "gps3async-crc32c"
SIZE_NAME = "gps3async-size"
DIGEST_SUFFIX = ".gps3async-crc32c"


def digest_fields(crc: int, size: int) -> dict[str, str]:
    return {DIGEST_NAME: encode_crc32c(crc), SIZE_NAME: str(size)}


def expected_digest(fields: Mapping[str, str]) -> tuple[int, int] | None:
    """The recorded ``(crc32c, size)`` in lower-cased metadata, if any (Go plugin objects have none)."""
    crc = decode_crc32c(fields.get(DIGEST_NAME, ""))
    size = fields.get(SIZE_NAME, "")
    if crc is None or not size.isdigit():
        return None
    return crc, int(size)


def digest_document(crc: int, size: int, extra: Mapping[str, str] | None = None) -> bytes:
    """The companion object's body: ``name=value`` lines, the same names as the metadata.

    ``extra`` adds names after the two every release reads (the block list of
    :mod:`gps3async.core.integrity.blocks`); readers skip names they do not know.
    """
    fields = {**digest_fields(crc, size), **(extra or {})}
    return "".join(f"{name}={value}\n" for name, value in fields.items()).encode("ascii")


def parse_document_fields(body: bytes) -> dict[str, str]:
    """A companion's ``name=value`` lines; a value runs from the first ``=`` (base64 padding stays in it)."""
    return dict(line.partition("=")[::2] for line in body.decode("ascii", "replace").splitlines())


def parse_digest_document(body: bytes) -> tuple[int, int] | None:
    return expected_digest(parse_document_fields(body))


def check_digest(where: str, expected: tuple[int, int] | None, chain: Crc32cChain) -> None:
    """:raises IntegrityError: when the bytes seen differ from the recorded digest or size."""
    if expected is None:
        return
    crc, size = expected
    if chain.length != size:
        raise IntegrityError(f"{where}: read {chain.length} bytes but the backup recorded {size}")
    if chain.value != crc:
        raise IntegrityError(
            f"{where}: CRC-32C mismatch (read {encode_crc32c(chain.value)}, backup recorded {encode_crc32c(crc)})"
        )
