"""``verify``'s Object Lock check: with ``object_lock_mode`` set, every object of the set (companions included)
must be locked at least as configured: the mode (or compliance), until its timestamp plus the days.

One GetObjectRetention per object (needs s3:GetObjectRetention); an object whose retention is missing, in a
weaker mode or shorter is a ``RETENTION`` problem line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from ...core.errors import GpS3Error, ObjectNotFound
from ...core.objectlock import format_date, retain_until, retention_problem
from ...core.verify.findings import Finding, Kind

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from ...core.config import PluginConfig
    from ...s3.storage import S3Store

__all__ = ["check_retention"]

#: GetObjectRetention requests at once.
AT_ONCE = 16


async def check_retention(
    store: S3Store, config: PluginConfig, timestamp: str, keys: Iterable[str],
    report: Callable[[Finding], Awaitable[None]],
) -> None:  # fmt: skip
    """One ``RETENTION`` finding per object of ``keys`` not locked as ``config`` asks (nothing without lock options)."""
    lock = config.object_lock
    if not lock.locks_writes:
        return
    want = retain_until(timestamp, lock.days)
    asked = f"{lock.mode} until {format_date(want)}"
    limiter = anyio.CapacityLimiter(AT_ONCE)

    async def one(key: str) -> None:
        url = store.url(key)
        async with limiter:
            try:
                mode, until = await store.retention_of(key)
            except ObjectNotFound:
                return  # gone since the listing: the record check has said so
            except GpS3Error as err:
                await report(Finding(Kind.UNREADABLE, url, f"its Object Lock retention: {err}"))
                return
        problem = retention_problem(mode, until, lock.mode, want)
        if problem:
            seen = f"{mode} until {format_date(until)}" if mode and until else "none"
            detail = f"Object Lock {problem}; object_lock_mode and object_lock_retain_days ask for {asked}"
            await report(Finding(Kind.RETENTION, url, detail, expected=asked, seen=seen))

    async with anyio.create_task_group() as tg:
        for key in keys:
            tg.start_soon(one, key)
