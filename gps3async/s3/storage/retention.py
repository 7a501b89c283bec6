"""S3Store's Object Lock calls: the lock a write asks for, confirming it on the store (and setting it where the
store ignored the write's headers), the bucket's lock and versioning, and the versions under a prefix."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...core.errors import StorageError, UsageError
from ...core.objectlock import NO_LOCK_FIX, format_date, parse_store_date, past_retention, retention_problem
from ...core.storemodes.settings import content_md5
from ..errors import error_code, translate
from .base import S3Base

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger("gps3async")

#: What a store answers GetObjectLockConfiguration with on a bucket that has no Object Lock.
_NO_LOCK_CODES = (
    "ObjectLockConfigurationNotFoundError", "ObjectLockConfigurationNotFound", "NoSuchObjectLockConfiguration",
)  # fmt: skip


@dataclass(frozen=True)
class BucketLock:
    """A bucket's Object Lock configuration: whether it is enabled, and its default retention (if any)."""

    enabled: bool
    default_mode: str = ""
    default_days: int = 0
    default_years: int = 0

    def describe(self) -> str:
        if not self.enabled:
            return "not enabled"
        if not self.default_mode:
            return "enabled, no default retention"
        period = f"{self.default_days} days" if self.default_days else f"{self.default_years} years"
        return f"enabled, default retention {self.default_mode} for {period}"


@dataclass(frozen=True)
class ObjectVersion:
    """One version or delete marker under a prefix (``version_id`` ``null`` where versioning never was on)."""

    key: str
    version_id: str
    delete_marker: bool


class S3Retention(S3Base):
    """The Object Lock calls of :class:`~gps3async.s3.storage.S3Store`."""

    async def lock_args(self, key: str) -> tuple[dict[str, Any], datetime | None]:
        """The lock headers of a write of ``key`` and the retain-until date they ask for (none: not locked).

        The first locked write of this client first makes sure the bucket has Object Lock: a store without
        it may take the headers without a word (rclone even echoes them on HEAD).
        """
        lock, now = self.writes.lock, datetime.now(timezone.utc)
        until = lock.until_for(key, self.writes.folder, now)
        if until is None:
            return {}, None
        if not self._bucket_locked:
            found = await self.bucket_lock()
            if not found.enabled:
                raise StorageError(f"GetObjectLockConfiguration s3://{self.bucket}: Object Lock is not enabled"
                                   f" on this bucket ({NO_LOCK_FIX})")  # fmt: skip
            self._bucket_locked = True
        past = past_retention(self.url(key), until, now, lock.days)
        if past:
            raise UsageError(past)
        return {"ObjectLockMode": lock.mode, "ObjectLockRetainUntilDate": until}, until

    async def put_locked(self, key: str, mode: str, until: datetime) -> None:
        """PutObject a small scratch object locked in ``mode`` until ``until``, confirmed (``check``'s proof)."""
        body = b"gps3async check: a locked write\n"
        async with self._call("PutObject", key):
            answer = await self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentMD5=content_md5(body),
                ObjectLockMode=mode, ObjectLockRetainUntilDate=until,
            )  # fmt: skip
        await self.confirm_retention(key, until, str(answer.get("VersionId") or ""), mode=mode)

    async def confirm_retention(self, key: str, until: datetime, version_id: str = "", *, mode: str = "") -> None:
        """Make sure the version just written of ``key`` is locked as asked: GetObjectRetention of it, and where
        the store kept no or a shorter retention (RGW 16 ignores the headers of CreateMultipartUpload), set it
        with PutObjectRetention and look again.  Not a HEAD: a store that keeps headers it does not know as
        metadata shows them on HEAD without locking anything.

        :raises StorageError: when the store still does not show the retention.
        """
        mode = mode or self.writes.lock.mode
        problem = retention_problem(*await self.retention_of(key, version_id), mode, until)
        if not problem:
            return
        log.info("%s: %s after the write; setting %s until %s with PutObjectRetention",
                 self.url(key), problem, mode, format_date(until))  # fmt: skip
        await self.put_retention(key, version_id, mode, until)
        problem = retention_problem(*await self.retention_of(key, version_id), mode, until)
        if problem:
            raise StorageError(
                f"PutObjectRetention {self.url(key)}: the store answered but keeps {problem}: it does not support"
                " Object Lock; use a bucket with Object Lock or remove object_lock_mode and object_lock_retain_days"
            )

    async def put_retention(self, key: str, version_id: str, mode: str, until: datetime) -> None:
        args = {"VersionId": version_id} if version_id else {}
        async with self._call("PutObjectRetention", key):
            await self._client.put_object_retention(
                Bucket=self.bucket, Key=key, Retention={"Mode": mode, "RetainUntilDate": until}, **args
            )

    async def retention_of(self, key: str, version_id: str = "") -> tuple[str, datetime | None]:
        """GetObjectRetention of one version (default the current): its mode and retain-until date
        (``("", None)`` when it has none)."""
        from botocore.exceptions import ClientError

        args = {"VersionId": version_id} if version_id else {}
        try:
            answer = await self._client.get_object_retention(Bucket=self.bucket, Key=key, **args)
        except ClientError as err:
            if error_code(err)[0] in ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"):
                return "", None
            raise translate(err, self._where("GetObjectRetention", key), self.modes) from None
        retention = answer.get("Retention") or {}
        return str(retention.get("Mode") or ""), parse_store_date(retention.get("RetainUntilDate"))

    async def bucket_lock(self) -> BucketLock:
        """GetObjectLockConfiguration: the bucket's Object Lock and default retention."""
        from botocore.exceptions import ClientError

        try:
            answer = await self._client.get_object_lock_configuration(Bucket=self.bucket)
        except ClientError as err:
            if error_code(err)[0] in _NO_LOCK_CODES:
                return BucketLock(enabled=False)
            raise translate(err, self._where("GetObjectLockConfiguration", ""), self.modes) from None
        config = answer.get("ObjectLockConfiguration") or {}
        rule = (config.get("Rule") or {}).get("DefaultRetention") or {}
        return BucketLock(
            config.get("ObjectLockEnabled") == "Enabled",
            str(rule.get("Mode") or ""),
            int(rule.get("Days") or 0),
            int(rule.get("Years") or 0),
        )

    async def bucket_versioning(self) -> str:
        """GetBucketVersioning: ``Enabled``, ``Suspended`` or ``""`` (never enabled)."""
        async with self._call("GetBucketVersioning", ""):
            answer = await self._client.get_bucket_versioning(Bucket=self.bucket)
        return str(answer.get("Status") or "")

    async def list_versions(self, prefix: str) -> list[ObjectVersion]:
        """Every version and delete marker under ``prefix``, every page of them."""
        found: list[ObjectVersion] = []
        paginator = self._client.get_paginator("list_object_versions")
        async with self._call("ListObjectVersions", prefix):
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for item in page.get("Versions") or []:
                    found.append(ObjectVersion(str(item["Key"]), str(item.get("VersionId") or "null"), False))
                for item in page.get("DeleteMarkers") or []:
                    found.append(ObjectVersion(str(item["Key"]), str(item.get("VersionId") or "null"), True))
        return found

    async def delete_versions(
        self, versions: Sequence[ObjectVersion], *, bypass_governance: bool
    ) -> list[tuple[ObjectVersion, str]]:
        """DeleteObjects of ``versions`` by version id, 1,000 at a time; those not deleted, with the store's code.

        ``bypass_governance`` sends ``x-amz-bypass-governance-retention`` (needs s3:BypassGovernanceRetention).
        """
        refused: list[tuple[ObjectVersion, str]] = []
        extra = {"BypassGovernanceRetention": True} if bypass_governance else {}
        for start in range(0, len(versions), 1000):
            batch = versions[start : start + 1000]
            by_id = {(v.key, v.version_id): v for v in batch}
            objects = [{"Key": v.key, "VersionId": v.version_id} for v in batch]
            async with self._call("DeleteObjects", batch[0].key):
                answer = await self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True}, **extra
                )
            for error in answer.get("Errors") or []:
                version = by_id.get((str(error.get("Key")), str(error.get("VersionId") or "null")))
                if version is None:
                    raise StorageError(f"DeleteObjects s3://{self.bucket}: an error for a key not asked: {error}")
                refused.append((version, str(error.get("Code") or "")))
        return refused
