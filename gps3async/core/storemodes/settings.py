"""How uploads are signed and checksummed for the store at hand (pure, no I/O).

Two options pick what every write carries, so the plugin works with any
S3-compatible store the Go plugin works with:

* ``payload_signing``: ``unsigned`` sends ``x-amz-content-sha256:
  UNSIGNED-PAYLOAD`` (the fastest; AWS and current MinIO accept it);
  ``signed`` puts the SHA-256 of every body in the signature, as the Go
  plugin (aws-sdk-go v1) does over plain HTTP, for stores that refuse
  unsigned payloads.
* ``upload_checksum``: ``crc32c`` sends S3's additional checksum
  (``x-amz-checksum-crc32c`` per part, ``ChecksumAlgorithm=CRC32C`` on the
  multipart upload); ``md5`` sends ``Content-MD5`` on every PutObject,
  UploadPart and DeleteObjects, as the Go plugin does, for stores that predate
  the additional checksums (2022); ``none`` sends neither.

Whatever the mode, each part's CRC-32C is still computed and folded into the
whole object's CRC-32C, which the backup records and every restore verifies
(:mod:`gps3async.core.integrity.checksums`): end-to-end integrity never depends on the store.

Every digest a mode needs is computed in one worker-thread hop per body
(:func:`digest_body`), one pass each, while other parts are on the wire.
This module also reads a store's refusal (error code and message) and names
the option value that avoids it (:func:`refusal_fix`).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import crc32c

from ..integrity.checksums import encode_crc32c

__all__ = [
    "CANDIDATES",
    "PAYLOAD_SIGNINGS",
    "UPLOAD_CHECKSUMS",
    "BodyDigest",
    "Refusal",
    "StoreModes",
    "content_md5",
    "digest_body",
    "refusal_fix",
]

PAYLOAD_SIGNINGS = ("unsigned", "signed")
UPLOAD_CHECKSUMS = ("crc32c", "md5", "none")


@dataclass(frozen=True)
class StoreModes:
    """The ``payload_signing`` and ``upload_checksum`` in use."""

    payload_signing: str = "unsigned"
    upload_checksum: str = "crc32c"

    @property
    def signed(self) -> bool:
        return self.payload_signing == "signed"

    def describe(self) -> str:
        return f"payload_signing: {self.payload_signing}, upload_checksum: {self.upload_checksum}"

    def put_args(self, digest: BodyDigest) -> dict[str, str]:
        """The checksum parameter of a PutObject or UploadPart carrying the body ``digest`` describes."""
        if self.upload_checksum == "crc32c":
            return {"ChecksumCRC32C": encode_crc32c(digest.crc32c)}
        if self.upload_checksum == "md5":
            return {"ContentMD5": digest.md5}
        return {}

    def create_args(self) -> dict[str, str]:
        """CreateMultipartUpload declares the algorithm only when the parts will carry it."""
        return {"ChecksumAlgorithm": "CRC32C"} if self.upload_checksum == "crc32c" else {}

    def complete_part(self, number: int, etag: str, crc: int) -> dict[str, object]:
        """One part of CompleteMultipartUpload's list (with its checksum only when the parts had one)."""
        part: dict[str, object] = {"PartNumber": number, "ETag": etag}
        if self.upload_checksum == "crc32c":
            part["ChecksumCRC32C"] = encode_crc32c(crc)
        return part


#: The modes the ``check`` verb tries when the configured one is refused, in this order: the default first,
#: then one option changed before both, and a checksum the store verifies before none.
CANDIDATES = (
    StoreModes("unsigned", "crc32c"),
    StoreModes("unsigned", "md5"),
    StoreModes("signed", "crc32c"),
    StoreModes("signed", "md5"),
    StoreModes("unsigned", "none"),
    StoreModes("signed", "none"),
)


@dataclass(frozen=True)
class BodyDigest:
    """What one request body needs: always its CRC-32C; the SHA-256 (hex) and MD5 (base64) when the mode sends them."""

    crc32c: int
    sha256: str = ""
    md5: str = ""


def digest_body(body: bytes | bytearray | memoryview, modes: StoreModes, *, crc: int | None = None) -> BodyDigest:
    """Every digest ``modes`` needs of ``body``, one pass each.

    Meant for a worker thread: crc32c and hashlib release the GIL for large
    buffers, so the event loop keeps sending other parts meanwhile.  ``crc`` is
    the body's CRC-32C when the caller has it already (folded from its blocks').
    """
    crc = crc32c.crc32c(body) if crc is None else crc
    sha = hashlib.sha256(body).hexdigest() if modes.signed else ""
    md5 = content_md5(body) if modes.upload_checksum == "md5" else ""
    return BodyDigest(crc, sha, md5)


def content_md5(body: bytes | bytearray | memoryview) -> str:
    """The ``Content-MD5`` of ``body`` (base64 of its MD5)."""
    return base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode("ascii")


# --------------------------------------------------------------------------- refusals

_UNSIGNED_WORDS = ("unsigned-payload", "unsigned payload")
_CHECKSUM_WORDS = ("x-amz-checksum", "x-amz-sdk-checksum", "checksumalgorithm", "checksum algorithm", "crc32c")
#: Codes stores answer to a header or parameter they do not understand.
_UNSUPPORTED_CODES = ("InvalidArgument", "InvalidRequest", "NotImplemented", "BadRequest", "InvalidHeader", "")

SIGN = "set payload_signing: signed"
MD5 = "set upload_checksum: md5"


class Refusal(NamedTuple):
    """Why the store refused the mode, and the setting that avoids it."""

    why: str
    setting: str

    def __str__(self) -> str:
        return f"{self.why}: {self.setting}"


def refusal_fix(code: str, message: str, modes: StoreModes) -> Refusal | None:
    """What to set when a store's error answer means it does not support ``modes``; ``None`` otherwise.

    Only answers that point at the mode are read so: an unsigned payload
    refused outright or taken for a wrong content SHA-256, a checksum header
    or algorithm the store does not know, a Content-MD5 it requires.  Digest
    mismatches in the mode the store does support (``BadDigest`` on a body
    that changed in transit) are not: no option fixes those.
    """
    text = message.lower()  # stores differ in the status they pick; the code and message say what it is
    if not modes.signed:
        if any(word in text for word in _UNSIGNED_WORDS):
            return Refusal("the store refused unsigned payloads", SIGN)
        if code == "XAmzContentSHA256Mismatch" or (code in _UNSUPPORTED_CODES and "x-amz-content-sha256" in text):
            return Refusal("the store does not accept an unsigned payload's content SHA-256", SIGN)
    if modes.upload_checksum != "md5" and (
        code == "MissingContentMD5" or ("content-md5" in text and ("missing" in text or "required" in text))
    ):
        return Refusal("the store requires Content-MD5", MD5)
    if modes.upload_checksum == "crc32c":
        if code in (*_UNSUPPORTED_CODES, "InvalidDigest") and any(word in text for word in _CHECKSUM_WORDS):
            return Refusal("the store does not support S3's additional checksums", MD5)
        if code == "NotImplemented" and "header" in text:
            # S3's own wording names no header: "A header you provided implies functionality that is not implemented".
            return Refusal("the store does not implement a header sent (likely the CRC-32C checksum)", MD5)
    return None
