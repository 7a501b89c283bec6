"""What the transfer pipelines see of a store: the ``ObjectStore`` protocol and the dataclasses it answers with.

Pure: types and a protocol, no S3 calls; the pipelines and their in-process test fakes are written against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ...core.integrity.checksums import DIGEST_SUFFIX
from ...core.objectlock import LockSettings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ...core.integrity.blocks import SpanDigest
    from ...core.plan import ByteRange
    from ...core.storemodes.settings import BodyDigest


@dataclass(frozen=True)
class CompletedPart:
    number: int
    etag: str
    crc32c: int
    length: int


@dataclass(frozen=True)
class ListedObject:
    key: str
    size: int


@dataclass(frozen=True)
class WriteOptions:
    """What every new object is stored with: encryption at rest and storage class.

    S3 takes them on PutObject and CreateMultipartUpload only: an upload's
    parts inherit them, and UploadPart and CompleteMultipartUpload need
    encryption headers only for customer-provided keys (SSE-C), which the
    plugin does not offer.
    """

    server_side_encryption: str = ""
    sse_kms_key_id: str = ""
    storage_class: str = ""
    #: The Object Lock every backup object is written with (none by default), and the folder whose scratch
    #: objects are spared it (:meth:`~gps3async.core.objectlock.LockSettings.until_for`).
    lock: LockSettings = field(default_factory=LockSettings)
    folder: str = ""

    def request_args(self, key: str) -> dict[str, str]:
        """The parameters for writing ``key``.

        A digest companion is encrypted like its object but kept in the default
        class: it is a few bytes that every restore reads, and archive classes
        bill small objects as large ones and must be restored before a read.
        """
        args: dict[str, str] = {}
        if self.server_side_encryption:
            args["ServerSideEncryption"] = self.server_side_encryption
        if self.sse_kms_key_id:
            args["SSEKMSKeyId"] = self.sse_kms_key_id
        if self.storage_class and not key.endswith(DIGEST_SUFFIX):
            args["StorageClass"] = self.storage_class
        return args


@dataclass(frozen=True)
class OpenUpload:
    """A multipart upload that was started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: str


@dataclass(frozen=True)
class RangeRead:
    """What a ranged GET delivered: ``length`` bytes, and the object's size and ETag."""

    length: int
    object_size: int
    etag: str
    #: User metadata of the object, names lower-cased (servers differ in case).
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: How the store encrypts it (``AES256``, ``aws:kms``...) and an SSE-C algorithm: the ETag is no MD5 under
    #: SSE-KMS or SSE-C.
    server_side_encryption: str = ""
    sse_customer_algorithm: str = ""


@dataclass(frozen=True)
class PartHead:
    """What ``HEAD ?partNumber=`` tells: that part's size, and the object's part count (0 when not said)."""

    length: int
    parts_count: int


class ObjectStore(Protocol):
    """The S3 operations the transfer pipelines need (a seam for pure tests)."""

    async def digest(self, body: bytes | bytearray) -> BodyDigest: ...
    async def digest_span(
        self, body: bytes | bytearray, start: int, block_size: int = ...
    ) -> tuple[BodyDigest, SpanDigest]: ...
    async def put_object(
        self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str], digest: BodyDigest | None = None
    ) -> None: ...
    async def create_multipart_upload(self, key: str) -> str: ...
    async def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray, *, digest: BodyDigest | None = None
    ) -> CompletedPart: ...
    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None: ...
    async def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...
    async def get_range_into(
        self, key: str, rng: ByteRange, view: memoryview, *, if_match: str | None = None
    ) -> RangeRead: ...
    async def get_small_object(self, key: str) -> bytes | None: ...
    async def head_part(self, key: str, number: int, *, if_match: str | None = None) -> PartHead: ...
    def url(self, key: str) -> str: ...
