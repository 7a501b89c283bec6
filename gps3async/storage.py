"""S3 access: the ``ObjectStore`` protocol and ``S3Store``, its aiobotocore implementation.

Only this module and its two helpers, :mod:`~gps3async.s3client` (building the
client) and :mod:`~gps3async.s3errors` (translating failures), touch botocore
or aiobotocore, so their untyped dictionaries stay here: callers get small
dataclasses and the plugin's own exceptions.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from .checksums import DIGEST_SUFFIX
from .errors import (
    IntegrityError,
    ObjectNotFound,
    StorageError,
    TransientStorageError,
)
from .integrity.blocks import BLOCK_SIZE, SpanDigest, digest_span
from .offload import digest_off_loop
from .plan import ByteRange, check_content_range
from .s3errors import error_code, is_stream_error, translate
from .storemodes import BodyDigest, StoreModes, digest_body, refusal_fix
from .verifiedmodes import MISMATCH_CODES, ProbeAnswer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence


__all__ = [
    "CompletedPart",
    "ListedObject",
    "ObjectStore",
    "OpenUpload",
    "PartHead",
    "RangeRead",
    "S3Store",
    "WriteOptions",
]

log = logging.getLogger("gps3async")

#: Body-stream failures after which a ranged GET resumes from its last byte.
_STREAM_RETRIES = 5


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


async def _read_body_into(body: Any, view: memoryview) -> int:
    """Fill ``view`` from a response body; return the bytes received (short if it ends early).

    The HTTP layer's raw response (:class:`gps3async.http.ResponseBody`, found
    here by its one method, never imported) receives straight into ``view``,
    megabytes per socket read; any other body is read with ``readinto``.
    A body that breaks off raises :class:`_BodyBroke` carrying the bytes
    already in ``view``, so the caller resumes after them.
    """
    raw = getattr(body, "raw_stream", None)
    receive = getattr(raw, "receive_into", None) or body.readinto
    received, wanted = 0, len(view)
    try:
        while received < wanted:
            got = int(await receive(view[received:]))
            if got == 0:
                break
            received += got
    except Exception as err:
        if is_stream_error(err):
            raise _BodyBroke(received, type(err).__name__) from None
        raise
    return received


class _BodyBroke(Exception):
    def __init__(self, received: int, cause: str) -> None:
        super().__init__(cause)
        self.received, self.cause = received, cause


class S3Store:
    """:class:`ObjectStore` over one aiobotocore S3 client for one bucket."""

    def __init__(
        self, client: Any, bucket: str, writes: WriteOptions | None = None, modes: StoreModes | None = None,
        *, digest_attempts: int = 5,
    ) -> None:  # fmt: skip
        self._client = client
        self.bucket = bucket
        self.writes = writes or WriteOptions()
        #: How writes are signed and checksummed (``payload_signing``, ``upload_checksum``).
        self.modes = modes or StoreModes()
        #: Sends of one body the store refused as not matching its digest before the write fails (``max_attempts``).
        self.digest_attempts = max(digest_attempts, 1)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _where(self, op: str, key: str) -> str:
        return f"{op} {self.url(key)}"

    @contextlib.asynccontextmanager
    async def _call(self, op: str, key: str) -> AsyncIterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as err:
            raise translate(err, self._where(op, key), self.modes) from None

    async def digest(self, body: bytes | bytearray) -> BodyDigest:
        """Every digest this store's modes need of ``body`` (its CRC-32C at least), in one worker-thread hop."""
        return await digest_off_loop(len(body), digest_body, body, self.modes)

    async def digest_span(
        self, body: bytes | bytearray, start: int, block_size: int = BLOCK_SIZE
    ) -> tuple[BodyDigest, SpanDigest]:
        """:meth:`digest`, and the CRC-32Cs of ``body``'s blocks (it sits at object offset ``start``), in one hop.

        The body's CRC-32C is folded from its blocks', so the bytes are read once for the CRCs.
        """
        return await digest_off_loop(len(body), _digest_with_blocks, body, start, block_size, self.modes)

    def _body_args(self, digest: BodyDigest) -> dict[str, str]:
        """The checksum parameter of a body, and its SHA-256 for the signer (see :mod:`gps3async.s3signing`)."""
        args = self.modes.put_args(digest)
        if self.modes.signed:
            from .s3signing import PAYLOAD_SHA256

            args[PAYLOAD_SHA256] = digest.sha256
        return args

    async def _send_verified(self, what: str, send: Callable[[], Awaitable[Any]], digest: BodyDigest) -> Any:
        """Run ``send`` (one PutObject or UploadPart); send the body again when the store found it different
        from its digest, up to :attr:`digest_attempts` times.

        The body in memory is the one its digest was computed from, so a
        mismatch means bytes changed on the way (a flipped bit), which is
        transient; botocore's retries do not cover it (a 400).  Nothing was
        stored by the refused request.
        """
        for attempt in range(1, self.digest_attempts + 1):
            answer, refused = await self._send_once(what, send)
            if refused is None:
                return answer
            code, status = error_code(refused)
            seen = _what_the_store_saw(refused.response.get("Error", {}))
            sent = _digests_sent(self.modes, digest)
            if attempt == self.digest_attempts:
                log.error("%s: the store refused the body %d times (%s %s): sent %s; %s; nothing stored",
                          what, attempt, status, code, sent, seen)  # fmt: skip
                raise IntegrityError(
                    f"{what}: the bytes the store received did not match their digest {attempt} times"
                    f" ({code}: corrupted in transit); nothing stored"
                )
            log.warning("%s: attempt %d refused: the bytes the store received did not match their digest (%s %s):"
                        " sent %s; %s; sending the body again", what, attempt, status, code, sent, seen)  # fmt: skip
        raise AssertionError("unreachable")

    async def _send_once(self, what: str, send: Callable[[], Awaitable[Any]]) -> tuple[Any, Any]:
        """``(answer, None)``, or ``(None, ClientError)`` for a digest mismatch; other failures raise."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await send(), None
        except ClientError as err:
            code, _ = error_code(err)
            message = str(err.response.get("Error", {}).get("Message", "") or "")
            if code in MISMATCH_CODES and refusal_fix(code, message, self.modes) is None:
                return None, err
            raise translate(err, what, self.modes) from None
        except BotoCoreError as err:
            raise translate(err, what, self.modes) from None

    async def put_object(
        self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str], digest: BodyDigest | None = None
    ) -> None:
        """Store ``body`` in one request; ``digest`` is :meth:`digest` of it when the caller already has it."""
        if digest is None:
            digest = await self.digest(body)
        args = self._body_args(digest)

        async def send() -> Any:
            return await self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=dict(metadata),
                **args, **self.writes.request_args(key),
            )  # fmt: skip

        await self._send_verified(self._where("PutObject", key), send, digest)

    async def probe_put(self, key: str, body: bytes, digest: BodyDigest) -> ProbeAnswer:
        """PutObject ``body`` with ``digest`` as given (deliberately wrong: :mod:`gps3async.modeprobe`), once.

        The answer is returned, not raised: a refusal is what the probe wants to see.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = await self._client.put_object(Bucket=self.bucket, Key=key, Body=body, **self._body_args(digest))
        except ClientError as err:
            code, status = error_code(err)
            return ProbeAnswer(status, code, str(err.response.get("Error", {}).get("Message", "") or ""))
        except BotoCoreError as err:
            return ProbeAnswer(0, "", type(err).__name__)
        return ProbeAnswer(int(answer["ResponseMetadata"]["HTTPStatusCode"]))

    async def delete_object(self, key: str) -> None:
        """DeleteObject (no body, no checksum): removes a probe's scratch object, present or not."""
        async with self._call("DeleteObject", key):
            await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def create_multipart_upload(self, key: str) -> str:
        async with self._call("CreateMultipartUpload", key):
            answer = await self._client.create_multipart_upload(
                Bucket=self.bucket, Key=key, **self.modes.create_args(), **self.writes.request_args(key)
            )
        return str(answer["UploadId"])

    async def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray, *, digest: BodyDigest | None = None
    ) -> CompletedPart:
        """Upload one part; ``digest`` is :meth:`digest` of it when the caller already has it."""
        if digest is None:
            digest = await self.digest(body)
        args = self._body_args(digest)

        async def send() -> Any:
            return await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **args
            )

        answer = await self._send_verified(self._where(f"UploadPart {number} of", key), send, digest)
        return CompletedPart(number, str(answer["ETag"]), digest.crc32c, len(body))

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None:
        listing = [self.modes.complete_part(p.number, p.etag, p.crc32c) for p in parts]
        async with self._call("CompleteMultipartUpload", key):
            await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listing}
            )

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        async with self._call("AbortMultipartUpload", key):
            await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    async def head_object(self, key: str) -> RangeRead:
        async with self._call("HeadObject", key):
            answer = await self._client.head_object(Bucket=self.bucket, Key=key)
        return _range_read(answer, 0, int(answer["ContentLength"]), str(answer.get("ETag", "")))

    async def head_part(self, key: str, number: int, *, if_match: str | None = None) -> PartHead:
        """``HEAD ?partNumber=number``: the size of one part of a multipart object (stores that ignore the
        parameter answer with the whole object's size and no part count)."""
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "PartNumber": number}
        if if_match:
            args["IfMatch"] = if_match
        async with self._call(f"HeadObject part {number} of", key):
            answer = await self._client.head_object(**args)
        return PartHead(int(answer["ContentLength"]), int(answer.get("PartsCount") or 0))

    async def get_small_object(self, key: str) -> bytes | None:
        """The whole body of a small object, or ``None`` when there is no such object."""
        try:
            async with self._call("GetObject", key):
                answer = await self._client.get_object(Bucket=self.bucket, Key=key)
                body = answer["Body"]
                async with body:  # older aiobotocore returns the raw response from __aenter__
                    return bytes(await body.read())
        except ObjectNotFound:
            return None

    async def get_range_into(
        self, key: str, rng: ByteRange, view: memoryview, *, if_match: str | None = None
    ) -> RangeRead:
        """Read ``rng`` (clipped at the object's end) into ``view``.

        A body that breaks off is resumed from the last byte received, up to
        five times, pinned to the first answer's ETag.
        """
        filled, etag = 0, if_match
        metadata: Mapping[str, str] | None = None
        for attempt in range(1, _STREAM_RETRIES + 2):
            rest = ByteRange(rng.start + filled, rng.end)
            try:
                got, answer = await self._get_once(key, rest, view[filled:], etag)
                return replace(answer, length=filled + got, metadata=metadata or answer.metadata)
            except _PartialRead as partial:
                filled += partial.received
                etag = partial.answer.etag or etag
                metadata = metadata or partial.answer.metadata
                if attempt > _STREAM_RETRIES:
                    raise TransientStorageError(
                        f"{self._where('GetObject', key)}: body broke off {attempt} times ({partial.cause})"
                    ) from None
                log.info("GetObject %s: attempt %d broke off after %d bytes (%s); resuming at byte %d",
                         key, attempt, partial.received, partial.cause, rng.start + filled)  # fmt: skip
        raise AssertionError("unreachable")

    async def _get_once(self, key: str, rng: ByteRange, view: memoryview, etag: str | None) -> tuple[int, RangeRead]:
        from botocore.exceptions import BotoCoreError, ClientError

        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Range": rng.header()}
        if etag:
            args["IfMatch"] = etag
        try:
            answer = await self._client.get_object(**args)
        except ClientError as err:
            if error_code(err)[0] == "InvalidRange":
                return await self._empty_object(key, rng)
            raise translate(err, self._where("GetObject", key), self.modes) from None
        except BotoCoreError as err:
            raise translate(err, self._where("GetObject", key), self.modes) from None
        status = int(answer["ResponseMetadata"]["HTTPStatusCode"])
        total = check_content_range(answer.get("ContentRange"), rng, status=status)
        size = total if total is not None else int(answer["ContentLength"])
        about = _range_read(answer, 0, size, str(answer.get("ETag", "")) or etag or "")
        wanted = min(len(view), max(size - rng.start, 0))
        body = answer["Body"]
        async with body:  # older aiobotocore returns the raw response from __aenter__
            try:
                received = await _read_body_into(body, view[:wanted])
            except _BodyBroke as broke:
                raise _PartialRead(broke.received, about, broke.cause) from None
        if received < wanted:
            raise _PartialRead(received, about, "body ended early")
        return received, about

    async def _empty_object(self, key: str, rng: ByteRange) -> tuple[int, RangeRead]:
        """S3 answers 416 to ``bytes=0-`` on an empty object; confirm the size is 0."""
        info = await self.head_object(key)
        if info.object_size > rng.start:
            raise IntegrityError(f"{self._where('GetObject', key)}: server refused range {rng.header()}")
        return 0, info

    async def list_objects(self, prefix: str) -> AsyncIterator[ListedObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        async with self._call("ListObjectsV2", prefix):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ListedObject(str(item["Key"]), int(item["Size"]))

    async def probe_read(self, prefix: str) -> None:
        """Prove the bucket exists and can be listed (restore setup)."""
        async with self._call("ListObjectsV2", prefix):
            await self._client.list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)

    async def list_uploads(self, prefix: str) -> list[OpenUpload]:
        """Multipart uploads still open under ``prefix``, every page of them."""
        from botocore.exceptions import BotoCoreError, ClientError

        found: list[OpenUpload] = []
        paginator = self._client.get_paginator("list_multipart_uploads")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Uploads", []):
                    found.append(OpenUpload(str(item["Key"]), str(item["UploadId"]), str(item.get("Initiated", ""))))
        except ClientError as err:
            # rclone answers NoSuchUpload while a bucket has never had a multipart upload: there are none.
            if error_code(err)[0] == "NoSuchUpload":
                return []
            raise translate(err, self._where("ListMultipartUploads", prefix), self.modes) from None
        except BotoCoreError as err:
            raise translate(err, self._where("ListMultipartUploads", prefix), self.modes) from None
        return found

    async def delete_objects(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` in batches of 1,000 (S3's DeleteObjects limit).

        DeleteObjects answers 200 even when some keys were not deleted; those
        come back as per-key errors, which fail the call and are named.
        """
        failures: list[str] = []
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            async with self._call("DeleteObjects", batch[0]["Key"]):
                answer = await self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            failures += [f"{error.get('Key')} ({error.get('Code')})" for error in answer.get("Errors") or []]
        if failures:
            log.error("DeleteObjects s3://%s: not deleted: %s", self.bucket, ", ".join(failures))
            shown = ", ".join(failures[:5]) + (f" and {len(failures) - 5} more" if len(failures) > 5 else "")
            raise StorageError(f"DeleteObjects s3://{self.bucket}: {len(failures)} objects not deleted: {shown}")


class _PartialRead(Exception):
    def __init__(self, received: int, answer: RangeRead, cause: str) -> None:
        super().__init__(cause)
        self.received, self.answer, self.cause = received, answer, cause


def _digest_with_blocks(
    body: bytes | bytearray, start: int, block_size: int, modes: StoreModes
) -> tuple[BodyDigest, SpanDigest]:
    span = digest_span(body, start, block_size)
    return digest_body(body, modes, crc=span.crc32c), span


def _range_read(answer: Mapping[str, Any], length: int, size: int, etag: str) -> RangeRead:
    return RangeRead(
        length, size, etag, _lower(answer.get("Metadata")),
        str(answer.get("ServerSideEncryption") or ""), str(answer.get("SSECustomerAlgorithm") or ""),
    )  # fmt: skip


def _digests_sent(modes: StoreModes, digest: BodyDigest) -> str:
    """The digests a write carried (what the store was told to expect), for the log."""
    from .checksums import encode_crc32c

    sent = []
    if modes.upload_checksum == "crc32c":
        sent.append(f"x-amz-checksum-crc32c {encode_crc32c(digest.crc32c)}")
    if modes.upload_checksum == "md5":
        sent.append(f"Content-MD5 {digest.md5}")
    if modes.signed:
        sent.append(f"payload SHA-256 {digest.sha256}")
    return ", ".join(sent) or "no digest"


def _what_the_store_saw(error: Mapping[str, Any]) -> str:
    """What the store says it computed: the extra fields of its error answer (S3 names them differently per
    digest, e.g. ``CalculatedDigest``, ``S3ComputedContentSHA256``); many stores name none."""
    skip = {"Code", "Message", "RequestId", "HostId", "Resource", "BucketName", "Key"}
    extra = [f"{name} {value}" for name, value in error.items() if name not in skip and value]
    return "the store computed: " + ", ".join(extra) if extra else "the store did not say what it computed"


def _lower(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (metadata or {}).items()}
