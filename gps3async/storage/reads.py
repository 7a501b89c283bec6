"""S3Store's read path: ranged GETs into a buffer, resumed after a body that broke off; HEAD of an
object or of one part; whole small objects."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ..errors import IntegrityError, ObjectNotFound, TransientStorageError
from ..plan import ByteRange, check_content_range
from ..s3errors import error_code, is_stream_error, translate
from .base import S3Base
from .objectstore import PartHead, RangeRead

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger("gps3async")

#: Body-stream failures after which a ranged GET resumes from its last byte.
_STREAM_RETRIES = 5


class S3Reads(S3Base):
    """The reads of :class:`~gps3async.storage.S3Store`."""

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
        found = await self.get_small_object_and_metadata(key)
        return found[0] if found is not None else None

    async def get_small_object_and_metadata(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        """The whole body of a small object and its user metadata (names lower-cased), or ``None``."""
        try:
            async with self._call("GetObject", key):
                answer = await self._client.get_object(Bucket=self.bucket, Key=key)
                body = answer["Body"]
                async with body:  # older aiobotocore returns the raw response from __aenter__
                    return bytes(await body.read()), _lower(answer.get("Metadata"))
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


class _PartialRead(Exception):
    def __init__(self, received: int, answer: RangeRead, cause: str) -> None:
        super().__init__(cause)
        self.received, self.answer, self.cause = received, answer, cause


def _range_read(answer: Mapping[str, Any], length: int, size: int, etag: str) -> RangeRead:
    return RangeRead(
        length, size, etag, _lower(answer.get("Metadata")),
        str(answer.get("ServerSideEncryption") or ""), str(answer.get("SSECustomerAlgorithm") or ""),
    )  # fmt: skip


def _lower(metadata: Mapping[str, str] | None) -> dict[str, str]:
    return {str(name).lower(): str(value) for name, value in (metadata or {}).items()}
