"""The Object Lock lines of ``check``: the bucket's Object Lock and default retention, its versioning, and with
``object_lock_mode`` set, one locked write proved on the store; then the scratch versions it left removed.

A bucket without Object Lock fails the check when the options ask for it, naming what to change.  The
proof is a small scratch object locked in the configured mode for one day (the least S3 takes): in
compliance mode it stays that day, and the line says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, TypeVar

from ...core.errors import GpS3Error, StorageError
from ...core.objectlock import NO_LOCK_FIX, format_date

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from .report import Report

__all__ = ["object_lock_lines"]

T = TypeVar("T")


async def object_lock_lines(report: Report, store: S3Store, config: PluginConfig, scratch: str) -> None:
    """Report the bucket's Object Lock and versioning; prove a locked write when the options ask for one."""
    lock = config.object_lock
    if lock.locks_writes:  # a backup needs them to work: their failure fails the check
        found = await report.step("Object Lock", store.bucket_lock, describe=lambda got: got.describe())
    else:
        found = await _optional(report, "Object Lock", store.bucket_lock, lambda got: got.describe())
    versioning = await _optional(report, "versioning", store.bucket_versioning, _versioning)
    if lock.locks_writes and found is not None:
        if not found.enabled:
            problem = StorageError(
                f"object_lock_mode is {lock.mode.lower()} but s3://{store.bucket} has no Object Lock"
            )
            report.failed["Object Lock options"] = problem
            await report.line("Object Lock options", "FAILED", f"{problem}: {NO_LOCK_FIX}")
        else:
            until = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
            proof = scratch + "locked"

            async def locked_write() -> str:
                await store.put_locked(proof, lock.mode, until)
                stays = "stays" if lock.mode == "COMPLIANCE" else "stays (unless deleted with bypass)"
                return f"{lock.mode} until {format_date(until)} confirmed; {store.url(proof)} {stays} until then"

            await report.step("locked PutObject", locked_write, describe=str)
    if versioning in ("Enabled", "Suspended"):
        await _remove_scratch_versions(report, store, scratch, bypass=lock.bypass_governance)


async def _optional(
    report: Report, op: str, action: Callable[[], Awaitable[T]], describe: Callable[[T], str]
) -> T | None:
    """An operation a backup does without: its line, ``warn`` when it failed (a store may not have it)."""
    try:
        value = await action()
    except GpS3Error as err:
        await report.line(op, "warn", f"{err}; not needed without object_lock_mode")
        return None
    await report.line(op, "info", describe(value))
    return value


def _versioning(status: str) -> str:
    if status in ("Enabled", "Suspended"):
        return (f"{status}: deletes go by version id (needs s3:ListBucketVersions and s3:DeleteObjectVersion);"
                " old versions are kept and billed until deleted")  # fmt: skip
    return "never enabled"


async def _remove_scratch_versions(report: Report, store: S3Store, scratch: str, *, bypass: bool) -> None:
    """The check's scratch objects left versions and delete markers behind: delete them by version id."""
    try:
        versions = await store.list_versions(scratch)
        refused = await store.delete_versions(versions, bypass_governance=bypass) if versions else []
    except GpS3Error as err:
        await report.line("scratch versions", "warn", f"{err}: remove the versions under {scratch} by hand")
        return
    if refused:
        kept = ", ".join(sorted({version.key.rsplit("/", 1)[-1] for version, _ in refused}))
        detail = f"{len(refused)} of {len(versions)} under {store.url(scratch)} kept by Object Lock ({kept})"
        await report.line("scratch versions", "info", detail)
    else:
        await report.line("scratch versions", "ok", f"{len(versions)} removed under {store.url(scratch)}")
