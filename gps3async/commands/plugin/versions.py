"""Deleting under a prefix in a bucket that keeps versions (Object Lock turns versioning on), honestly.

There a plain DeleteObject only adds a delete marker: the data stays, billed
and invisible, and under Object Lock it could not go anyway.  So every version
and delete marker under the prefix is deleted by its version id (with
``x-amz-bypass-governance-retention`` when ``object_lock_bypass_governance``
says so), and the versions the lock keeps are named in one line, with their
mode and date, and fail the call: a backup is never reported deleted while
versions of it are retained.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio

from ...core.errors import GpS3Error, StorageError
from ...core.objectlock import RetainedVersion, retained_summary

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from ...s3.storage.retention import ObjectVersion

__all__ = ["delete_versions_under", "keeps_versions"]

log = logging.getLogger("gps3async")

#: GetObjectRetention lookups of refused versions at once.
_LOOKUPS = 8


async def keeps_versions(store: S3Store, config: PluginConfig) -> bool:
    """Whether deletes must go by version id: the bucket's versioning is on or suspended.

    When GetBucketVersioning is not allowed, a config with Object Lock options is taken for versioned
    (its bucket must be), any other for unversioned (the plain deletes of before).
    """
    try:
        return await store.bucket_versioning() in ("Enabled", "Suspended")
    except GpS3Error as err:
        locked = config.object_lock.locks_writes or config.object_lock.bypass_governance
        log.info("bucket versioning unknown (%s); deleting %s", err, "by version" if locked else "plainly")
        return locked


async def delete_versions_under(
    store: S3Store, config: PluginConfig, prefix: str, what: str, *, first: str = ""
) -> int:
    """Delete every version and delete marker under ``prefix``, those of keys starting with ``first`` before the
    others (a backup set's config file, so that a run stopped half way leaves a set that lists as incomplete);
    return how many went.

    :raises StorageError: one line naming what was not deleted: the versions Object Lock retains, until when
        and in which mode (and whether anything could delete them), or the store's other refusals.
    """
    found = await store.list_versions(prefix)
    bypass = config.object_lock.bypass_governance
    leading = [version for version in found if first and version.key.startswith(first)]
    rest = [version for version in found if not (first and version.key.startswith(first))]
    refused = []
    for batch in (leading, rest):  # the leading versions in requests of their own, answered before the rest go
        if batch:
            refused += await store.delete_versions(batch, bypass_governance=bypass)
    deleted = len(found) - len(refused)
    log.info("deleted %d object versions and delete markers under %s", deleted, store.url(prefix))
    if not refused:
        return deleted
    retained, other = await _why_refused(store, refused)
    problems = [retained_summary(retained, bypass=bypass)] if retained else []
    if other:
        shown = ", ".join(f"{version.key} ({code})" for version, code in other[:3])
        problems.append(
            f"{len(other)} not deleted: {shown}" + (f" and {len(other) - 3} more" if len(other) > 3 else "")
        )
    line = f"{what}: {deleted} versions and delete markers deleted, but " + "; ".join(problems)
    log.error("%s", line)
    raise StorageError(line)


async def _why_refused(
    store: S3Store, refused: list[tuple[ObjectVersion, str]]
) -> tuple[list[RetainedVersion], list[tuple[ObjectVersion, str]]]:
    """The refused versions a lock retains (their mode and date looked up), and those refused otherwise."""
    retained: list[RetainedVersion] = []
    other: list[tuple[ObjectVersion, str]] = []
    limiter = anyio.CapacityLimiter(_LOOKUPS)

    async def look_up(version: ObjectVersion, code: str) -> None:
        mode, until = "", None
        if code == "AccessDenied":  # how a lock refuses, and a missing permission too: the retention tells
            async with limiter:
                try:
                    mode, until = await store.retention_of(version.key, version.version_id)
                except GpS3Error as err:
                    log.info("GetObjectRetention %s: %s", store.url(version.key), err)
        if mode:
            retained.append(RetainedVersion(version.key, mode, until))
        else:
            other.append((version, code))

    async with anyio.create_task_group() as tg:
        for version, code in refused:
            tg.start_soon(look_up, version, code)
    return retained, other
