"""S3 access: the ``ObjectStore`` protocol and ``S3Store``, its aiobotocore implementation.

This module is the only one that imports botocore or aiobotocore, so their
untyped dictionaries stay here: callers get small dataclasses and the plugin's
own exceptions.  Error messages are built from the operation, the object and
S3's error code, never from request headers, so credentials cannot leak.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import anyio
import crc32c

from .checksums import encode_crc32c
from .errors import (
    AccessDenied,
    BucketNotFound,
    IntegrityError,
    ObjectNotFound,
    StorageError,
    TransientStorageError,
)
from .plan import ByteRange, check_content_range

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping, Sequence

    from .config import PluginConfig

__all__ = ["CompletedPart", "ListedObject", "ObjectStore", "RangeRead", "S3Store", "open_store"]

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
class RangeRead:
    """What a ranged GET delivered: ``length`` bytes, and the object's size and ETag."""

    length: int
    object_size: int
    etag: str
    #: User metadata of the object, names lower-cased (servers differ in case).
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    """The S3 operations the transfer pipelines need (a seam for pure tests)."""

    async def put_object(self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str]) -> None: ...
    async def create_multipart_upload(self, key: str) -> str: ...
    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> CompletedPart: ...
    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None: ...
    async def abort_multipart_upload(self, key: str, upload_id: str) -> None: ...
    async def get_range_into(
        self, key: str, rng: ByteRange, view: memoryview, *, if_match: str | None = None
    ) -> RangeRead: ...
    async def get_small_object(self, key: str) -> bytes | None: ...
    def url(self, key: str) -> str: ...


def _error_code(err: Any) -> tuple[str, int]:
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _translate(err: Exception, what: str) -> Exception:
    """Map a botocore failure to a plugin error carrying one readable line."""
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return AccessDenied(f"{what}: no AWS credentials (set aws_access_key_id and aws_secret_access_key)")
    if not isinstance(err, ClientError):
        return TransientStorageError(f"{what}: {type(err).__name__}: {err}")
    code, status = _error_code(err)
    message = str(err.response.get("Error", {}).get("Message", "") or "")
    detail = f"{code or status} {message}".strip()
    if code in ("NoSuchKey", "NotFound") or (status == 404 and code in ("", "404")):
        return ObjectNotFound(f"{what}: object not found")
    if code == "NoSuchBucket":
        return BucketNotFound(f"{what}: bucket does not exist")
    if code == "NoSuchUpload":
        return StorageError(f"{what}: multipart upload no longer exists")
    if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return AccessDenied(f"{what}: access denied ({detail})")
    if code == "PreconditionFailed" or status == 412:
        return IntegrityError(f"{what}: object changed while it was being read (ETag mismatch)")
    if status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError"):
        return TransientStorageError(f"{what}: {detail} (retries exhausted)")
    return StorageError(f"{what}: {detail}")


async def _read_body_into(body: Any, view: memoryview) -> int:
    """Fill ``view`` from a response body; return the bytes received (short if it ends early).

    On aiohttp it takes the stream's buffered chunks one at a time
    (``readchunk``): ``StreamingBody.readinto`` asks ``read(n)``, which first
    joins every buffered chunk into a new ``bytes``, one more copy per byte.
    A body that breaks off raises :class:`_BodyBroke` carrying the bytes
    already in ``view``, so the caller resumes after them.
    """
    stream = getattr(getattr(body, "raw_stream", None), "content", None)
    received, wanted = 0, len(view)
    try:
        while received < wanted:
            if stream is None:
                got = int(await body.readinto(view[received:]))
            else:
                chunk, _ = await stream.readchunk()
                got = min(len(chunk), wanted - received)
                view[received : received + got] = memoryview(chunk)[:got]
            if got == 0:
                break
            received += got
    except Exception as err:
        if _is_stream_error(err):
            raise _BodyBroke(received, type(err).__name__) from None
        raise
    return received


class _BodyBroke(Exception):
    def __init__(self, received: int, cause: str) -> None:
        super().__init__(cause)
        self.received, self.cause = received, cause


def _is_stream_error(err: BaseException) -> bool:
    from aiohttp import ClientError
    from botocore.exceptions import (
        ConnectionClosedError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    streaming = (ResponseStreamingError, ReadTimeoutError, IncompleteReadError, ConnectionClosedError)
    return isinstance(err, (*streaming, ClientError, ConnectionError, TimeoutError))


class S3Store:
    """:class:`ObjectStore` over one aiobotocore S3 client for one bucket."""

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

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
            raise _translate(err, self._where(op, key)) from None

    async def put_object(self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str]) -> None:
        checksum = encode_crc32c(await anyio.to_thread.run_sync(crc32c.crc32c, body))
        async with self._call("PutObject", key):
            await self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ChecksumCRC32C=checksum, Metadata=dict(metadata)
            )

    async def create_multipart_upload(self, key: str) -> str:
        async with self._call("CreateMultipartUpload", key):
            answer = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key, ChecksumAlgorithm="CRC32C")
        return str(answer["UploadId"])

    async def upload_part(self, key: str, upload_id: str, number: int, body: bytes | bytearray) -> CompletedPart:
        crc = await anyio.to_thread.run_sync(crc32c.crc32c, body)
        async with self._call(f"UploadPart {number} of", key):
            answer = await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body,
                ChecksumCRC32C=encode_crc32c(crc),
            )  # fmt: skip
        return CompletedPart(number, str(answer["ETag"]), crc, len(body))

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None:
        listing = [{"PartNumber": p.number, "ETag": p.etag, "ChecksumCRC32C": encode_crc32c(p.crc32c)} for p in parts]
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
        return RangeRead(0, int(answer["ContentLength"]), str(answer.get("ETag", "")), _lower(answer.get("Metadata")))

    async def get_small_object(self, key: str) -> bytes | None:
        """The whole body of a small object, or ``None`` when there is no such object."""
        try:
            async with self._call("GetObject", key):
                answer = await self._client.get_object(Bucket=self.bucket, Key=key)
                async with answer["Body"] as body:
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
                return RangeRead(filled + got, answer.object_size, answer.etag, metadata or answer.metadata)
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
            if _error_code(err)[0] == "InvalidRange":
                return await self._empty_object(key, rng)
            raise _translate(err, self._where("GetObject", key)) from None
        except BotoCoreError as err:
            raise _translate(err, self._where("GetObject", key)) from None
        status = int(answer["ResponseMetadata"]["HTTPStatusCode"])
        total = check_content_range(answer.get("ContentRange"), rng, status=status)
        size = total if total is not None else int(answer["ContentLength"])
        about = RangeRead(0, size, str(answer.get("ETag", "")) or etag or "", _lower(answer.get("Metadata")))
        wanted = min(len(view), max(size - rng.start, 0))
        async with answer["Body"] as body:
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

    async def delete_objects(self, keys: Sequence[str]) -> None:
        """Delete ``keys`` in batches of 1,000 (S3's DeleteObjects limit)."""
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            async with self._call("DeleteObjects", batch[0]["Key"]):
                answer = await self._client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            errors = answer.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    f"DeleteObjects s3://{self.bucket}/{first.get('Key')}: {first.get('Code')} "
                    f"({len(errors)} objects not deleted)"
                )


class _PartialRead(Exception):
    def __init__(self, received: int, answer: RangeRead, cause: str) -> None:
        super().__init__(cause)
        self.received, self.answer, self.cause = received, answer, cause


def _lower(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (metadata or {}).items()}


_RETRYABLE_CODES = frozenset({"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "Throttling"})


def _log_retry(attempts: int, operation: Any, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
    """Log every failed attempt botocore may retry, so retries show in the plugin log.

    Registered first on ``needs-retry``: it returns ``None`` and leaves the
    decision (and the back-off) to botocore's standard retry mode.
    """
    if caught_exception is not None:
        cause = f"{type(caught_exception).__name__}: {caught_exception}"
    elif response is not None:
        status = int(response[0].status_code)
        code = str(response[1].get("Error", {}).get("Code", ""))
        if status < 500 and status != 429 and code not in _RETRYABLE_CODES:
            return
        cause = f"HTTP {status} {code}".strip()
    else:
        return
    log.info("%s attempt %d failed (%s)", getattr(operation, "name", "request"), attempts, cause)


def _strip_bucket_from_path(bucket: str) -> Any:
    """For ``remove_duplicate_bucket: true``: the endpoint URL already names the bucket."""

    def handler(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        marker = f"/{bucket}"
        if parts.path == marker or parts.path.startswith(marker + "/"):
            path = parts.path[len(marker) :] or "/"
            request.url = urlunsplit(parts._replace(path=path))

    return handler


def _send_bodies_without_copying() -> None:
    """Let aiohttp hand headers and body to the transport as two buffers.

    On Python before 3.12.9 aiohttp joins the request headers and the whole
    body into one new ``bytes`` (``SKIP_WRITELINES``), because asyncio's own
    ``writelines`` had a bug there: a part-sized copy per UploadPart, in memory
    and CPU.  uvloop's transport has its own ``writelines`` without that bug,
    so under uvloop the join is only a cost.
    """
    import asyncio

    import aiohttp.http_writer

    if type(asyncio.get_running_loop()).__module__.startswith("uvloop"):
        aiohttp.http_writer.SKIP_WRITELINES = False


@contextlib.asynccontextmanager
async def open_store(config: PluginConfig, *, concurrency: int) -> AsyncIterator[S3Store]:
    """An :class:`S3Store` for ``config``, its connection pool sized for ``concurrency``."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    proxies = {"http": config.http_proxy, "https": config.http_proxy} if config.http_proxy else None
    client_config = AioConfig(
        signature_version="s3v4",
        # Path-style like the Go plugin; payload signing off because every body
        # carries a CRC-32C checksum the server verifies (see README, Integrity).
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": config.max_attempts},
        max_pool_connections=max(concurrency + 2, 4),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        proxies=proxies,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    _send_bodies_without_copying()
    session = get_session()
    credentials: dict[str, str] = {}
    if config.access_key_id:
        credentials = {"aws_access_key_id": config.access_key_id, "aws_secret_access_key": config.secret_access_key}
    async with session.create_client(
        "s3",
        region_name=config.region or "us-east-1",
        endpoint_url=config.endpoint_url,
        use_ssl=config.encryption,
        config=client_config,
        **credentials,
    ) as client:
        client.meta.events.register_first("needs-retry.s3", _log_retry)
        if config.remove_duplicate_bucket:
            client.meta.events.register("before-sign.s3", _strip_bucket_from_path(config.bucket))
        yield S3Store(client, config.bucket)
