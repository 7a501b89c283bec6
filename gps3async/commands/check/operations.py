"""The S3 operations ``check`` runs on scratch keys, in the order a backup and then a restore need them;
the parts and ranges it moves are the link samples its suggested settings come from."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, TypeVar

import anyio

from ...core.checkadvice import MIB, LinkSample
from ...core.errors import GpS3Error, IntegrityError
from ...core.plan import ByteRange

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ...s3.storage import CompletedPart, S3Store
    from .report import Report

T = TypeVar("T")

#: The measuring part: S3's minimum size for a part that is not the last.
PART = 5 * MIB
#: Requests at once for the parallel samples.
TOGETHER = 3


class Probe:
    """The operations, in the order a backup and then a restore need them, on scratch keys."""

    def __init__(self, store: S3Store, report: Report, scratch: str) -> None:
        self.store, self.report, self.scratch = store, report, scratch
        self.data = os.urandom(PART)
        self.small, self.multi = scratch + "object", scratch + "multipart"
        self.open: dict[str, str] = {}  # key -> upload id of scratch uploads not yet completed or aborted
        self.up: list[LinkSample] = []
        self.down: list[LinkSample] = []
        self.latency = float("inf")

    async def timed(self, action: Callable[[], Awaitable[T]]) -> tuple[T, float]:
        started = time.monotonic()
        value = await action()
        return value, time.monotonic() - started

    async def small_request(self, action: Callable[[], Awaitable[T]]) -> T:
        value, seconds = await self.timed(action)
        self.latency = min(self.latency, seconds)
        return value

    async def run(self) -> None:
        step = self.report.step
        await step(
            "PutObject", lambda: self.small_request(lambda: self.store.put_object(self.small, b"x", metadata={}))
        )
        await step("HeadObject", lambda: self.small_request(lambda: self.store.head_object(self.small)),
                   needs=("PutObject",))  # fmt: skip
        upload_id = await step("CreateMultipartUpload", lambda: self.create(self.multi))
        parts = await step("UploadPart", lambda: self.upload_parts(upload_id or ""), needs=("CreateMultipartUpload",))
        await step("CompleteMultipartUpload", lambda: self.complete(upload_id or "", parts or []),
                   needs=("UploadPart",))  # fmt: skip
        await step("GetObject", self.ranged_gets, needs=("CompleteMultipartUpload",))
        await step("ListObjectsV2", lambda: self.small_request(self.list_scratch))
        await step("AbortMultipartUpload", self.abort_one, needs=("CreateMultipartUpload",))
        await step("DeleteObjects", self.delete_scratch, needs=("ListObjectsV2",))

    async def create(self, key: str) -> str:
        upload_id = await self.store.create_multipart_upload(key)
        self.open[key] = upload_id
        return upload_id

    async def upload_parts(self, upload_id: str) -> list[CompletedPart]:
        """Part 1 alone, then :data:`TOGETHER` parts at once: the two upload samples."""
        first, seconds = await self.timed(lambda: self.store.upload_part(self.multi, upload_id, 1, self.data))
        self.up.append(LinkSample(PART, seconds, 1))
        parts = [first]
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for number in range(2, TOGETHER + 2):

                async def one(number: int = number) -> None:
                    parts.append(await self.store.upload_part(self.multi, upload_id, number, self.data))

                tg.start_soon(one)
        self.up.append(LinkSample(TOGETHER * PART, time.monotonic() - started, TOGETHER))
        return sorted(parts, key=lambda part: part.number)

    async def complete(self, upload_id: str, parts: list[CompletedPart]) -> None:
        await self.store.complete_multipart_upload(self.multi, upload_id, parts)
        del self.open[self.multi]

    async def ranged_gets(self) -> None:
        """One 5 MiB range alone, then :data:`TOGETHER` at once, each checked byte for byte."""
        buffers = [bytearray(PART) for _ in range(TOGETHER)]

        async def fetch(index: int, buffer: bytearray) -> None:
            rng = ByteRange(index * PART, (index + 1) * PART)
            got = await self.store.get_range_into(self.multi, rng, memoryview(buffer))
            if got.length != PART or buffer != self.data:
                raise IntegrityError(
                    f"GetObject {self.store.url(self.multi)}: range {rng.header()} came back different"
                )

        _, seconds = await self.timed(lambda: fetch(0, buffers[0]))
        self.down.append(LinkSample(PART, seconds, 1))
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            for index, buffer in enumerate(buffers, 1):
                tg.start_soon(fetch, index, buffer)
        self.down.append(LinkSample(TOGETHER * PART, time.monotonic() - started, TOGETHER))

    async def list_scratch(self) -> None:
        found = {item.key async for item in self.store.list_objects(self.scratch)}
        written = {"PutObject": self.small, "CompleteMultipartUpload": self.multi}
        wanted = {key for op, key in written.items() if op in self.report.done}
        if not wanted <= found:
            raise GpS3Error(f"ListObjectsV2 s3://{self.store.bucket}/{self.scratch}: written objects are not listed")

    async def abort_one(self) -> None:
        key = self.scratch + "aborted"
        upload_id = await self.create(key)
        await self.store.abort_multipart_upload(key, upload_id)
        del self.open[key]

    async def delete_scratch(self) -> None:
        await self.store.delete_objects([item.key async for item in self.store.list_objects(self.scratch)])
        left = [item.key async for item in self.store.list_objects(self.scratch)]
        if left:
            raise GpS3Error(f"DeleteObjects s3://{self.store.bucket}/{self.scratch}: {len(left)} objects still listed")

    async def _aborted(self, key: str, upload_id: str) -> bool:
        try:
            await self.store.abort_multipart_upload(key, upload_id)
        except GpS3Error:
            return False
        return True

    async def clean_up(self) -> list[str]:
        """Abort scratch uploads and delete scratch objects, best effort; return what could not be removed."""
        left: list[str] = []
        for key, upload_id in list(self.open.items()):
            if not await self._aborted(key, upload_id):
                left.append(f"upload of {key}")
        written = {"PutObject": self.small, "CompleteMultipartUpload": self.multi}
        keys = [key for op, key in written.items() if op in self.report.done]
        try:  # the keys written are known: no listing, which may be what failed
            if keys:
                await self.store.delete_objects(keys)
        except GpS3Error:
            left.append(f"objects under {self.scratch}")
        return left
