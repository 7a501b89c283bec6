"""S3Store's listing and deleting: objects and open multipart uploads under a prefix, the restore's
read probe, and deletes (one object, or batches of 1,000)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...core.errors import StorageError
from ..errors import error_code, translate
from .base import S3Base
from .objectstore import ListedObject, OpenUpload

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

log = logging.getLogger("gps3async")


class S3Listing(S3Base):
    """The listing and deleting of :class:`~gps3async.s3.storage.S3Store`."""

    async def delete_object(self, key: str) -> None:
        """DeleteObject (no body, no checksum): removes a probe's scratch object, present or not."""
        async with self._call("DeleteObject", key):
            await self._client.delete_object(Bucket=self.bucket, Key=key)

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
