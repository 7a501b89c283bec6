"""S3Store's read path: ranged GETs into a buffer, resumed after a body that broke off for as long as the
attempts bring new bytes (:mod:`gps3async.core.resumebudget`); HEAD of an object or of one part; whole small objects,
resumed the same way; the count of broken bodies a call's reads survived, for its summary line."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ...core.errors import IntegrityError, ObjectNotFound, TransientStorageError
from ...core.plan import ByteRange, check_content_range
from ..errors import error_code, is_stream_error, translate
from .base import S3Base
from .objectstore import PartHead, RangeRead

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ...core.resumebudget import ResumeBudget

log = logging.getLogger("gps3async")


@dataclass
class BreakTally:
    """The broken bodies one call's reads resumed (and so survived, when the call succeeds)."""

    survived: int = 0


_TALLY: ContextVar[BreakTally | None] = ContextVar("gps3async_break_tally", default=None)


def count_breaks() -> None:
    """Count the breaks resumed from now on in this task and the tasks it starts (one call's transfer).

    The count stays readable (:func:`breaks_survived`) after the transfer: each call runs in a task
    (or a process) of its own, so it is never mixed with another call's.
    """
    _TALLY.set(BreakTally())


def breaks_survived() -> int:
    """Breaks resumed since :func:`count_breaks` in this task (0 when nothing is counted)."""
    tally = _TALLY.get()
    return 0 if tally is None else tally.survived


class S3Reads(S3Base):
    """The reads of :class:`~gps3async.s3.storage.S3Store`."""

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
        """The whole body of a small object (resumed like a range), or ``None`` when there is no such object."""
        found = await self.get_small_object_and_metadata(key)
        return found[0] if found is not None else None

    async def get_small_object_and_metadata(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        """The whole body of a small object (resumed like a range) and its user metadata (names lower-cased),
        or ``None`` when there is no such object."""
        try:
            async with self._call("GetObject", key):
                answer = await self._client.get_object(Bucket=self.bucket, Key=key)
        except ObjectNotFound:
            return None
        budget = self.resume.start(int(answer["ContentLength"]), time.monotonic())
        buffer = bytearray(budget.size)
        body = answer["Body"]
        try:
            async with self._call("GetObject", key), body:  # older aiobotocore returns the raw response from __aenter__
                received = await _read_body_into(body, memoryview(buffer))
            cause = "body ended early"
        except _BodyBroke as broke:
            received, cause = broke.received, broke.cause
        if received < budget.size:
            self._after_break(key, budget, received, cause, received)
            rest = ByteRange(received, budget.size)
            etag = str(answer.get("ETag", "")) or None
            await self._resume_into(key, rest, memoryview(buffer)[received:], etag, budget, origin=0)
        return bytes(buffer), _lower(answer.get("Metadata"))

    async def get_range_into(
        self, key: str, rng: ByteRange, view: memoryview, *, if_match: str | None = None
    ) -> RangeRead:
        """Read ``rng`` (clipped at the object's end) into ``view``.

        A body that breaks off is resumed from the last byte received, pinned
        to the first answer's ETag, for as long as the attempts bring new
        bytes: it gives up after ``max_attempts`` attempts in a row without a
        new byte, or when a break comes after the range's deadline, derived
        from ``read_timeout`` and its size (:mod:`gps3async.core.resumebudget`).
        """
        budget = self.resume.start(min(rng.length, len(view)), time.monotonic())
        return await self._resume_into(key, rng, view, if_match, budget, origin=rng.start)

    async def _resume_into(
        self, key: str, rng: ByteRange, view: memoryview, etag: str | None, budget: ResumeBudget, *, origin: int
    ) -> RangeRead:
        """Read ``rng`` into ``view``, resuming within ``budget`` (the bytes of a read that starts at ``origin``)."""
        filled = 0
        metadata: Mapping[str, str] | None = None
        while True:
            rest = ByteRange(rng.start + filled, rng.end)
            try:
                got, answer = await self._get_once(key, rest, view[filled:], etag)
            except _PartialRead as partial:
                filled += partial.received
                etag = partial.answer.etag or etag
                metadata = metadata or partial.answer.metadata
                budget.size = min(budget.size, max(partial.answer.object_size - origin, 0))  # clipped at the end
                self._after_break(key, budget, partial.received, partial.cause, rng.start + filled)
                continue
            if budget.breaks:
                end = rng.start + filled + got
                log.info("GetObject %s: bytes %d-%d complete after %d resumes", key, origin, end, budget.breaks)
            return replace(answer, length=filled + got, metadata=metadata or answer.metadata)

    def _after_break(self, key: str, budget: ResumeBudget, received: int, cause: str, resume_at: int) -> None:
        """Count a body that broke off after ``received`` new bytes: log the resume, or raise when giving up."""
        given_up = budget.broke(received, time.monotonic())
        if given_up is not None:
            raise TransientStorageError(
                f"{self._where('GetObject', key)}: body broke off ({cause}); given up: {given_up} ({budget.describe()})"
            )
        tally = _TALLY.get()
        if tally is not None:
            tally.survived += 1
        stalled = f", {budget.stalls} in a row without a new byte" if budget.stalls else ""
        log.info("GetObject %s: attempt %d broke off after %d bytes (%s%s); resuming at byte %d",
                 key, budget.breaks, received, cause, stalled, resume_at)  # fmt: skip

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

    The HTTP layer's raw response (:class:`gps3async.s3.http.ResponseBody`, found
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
