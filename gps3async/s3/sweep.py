"""Aborting the multipart uploads that processes now gone left open on this host.

A process killed mid-upload (SIGKILL, the OOM killer) cannot abort its upload;
its record stays in the upload journal (:mod:`gps3async.runtime.journal`).  Once its
first call has ended (or is well under way) an agent reads the journal beside
it, and for each record whose owner is gone
(:func:`gps3async.core.journalrecords.judge`) and whose store is its own (same
endpoint and bucket: it aborts with its own credentials) aborts the upload,
logs it, and removes the record.  An in-process call does the same with the
store it used once its work has succeeded (with ``agent: "off"`` no agent ever
runs), for a shorter while, one call at a time.  Records of processes that
still run are never touched; records of other stores, and uploads whose abort
fails (store unreachable, access denied), stay for the next sweep.  A clean
journal costs one directory listing and no request.
"""

from __future__ import annotations

import logging
import os
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

from ..core.errors import GpS3Error, UploadNotFound
from ..core.journalrecords import SweepPlan, plan_sweep, split_by_store
from ..runtime.journal import running_start, this_process

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from ..core.journalrecords import UploadRecord
    from ..runtime.journal import UploadJournal
    from .storage import S3Store

__all__ = ["SWEEP_TIMEOUT", "find_orphans", "sweep_after_call", "sweep_orphans"]

log = logging.getLogger("gps3async")

AGENT = "agent"
#: The whole sweep's bound: what is not aborted by then stays for the next agent.
SWEEP_TIMEOUT = 60.0
#: Aborts in flight at once (a killed agent may have left one per stream it served).
SWEEP_CONCURRENCY = 8


def find_orphans(journal: UploadJournal) -> SweepPlan:
    """Read the journal and judge each record (blocking file reads: run it in a worker thread)."""
    journal.remove_stale_temporaries()
    entries = journal.entries()
    pids = {record.owner.pid for _, record in entries if record is not None}
    return plan_sweep(entries, this_process(), {pid: running_start(pid) for pid in pids})


async def sweep_orphans(
    journal: UploadJournal, open_store: Callable[[], AbstractAsyncContextManager[S3Store]], *,
    who: str = AGENT, timeout: float = SWEEP_TIMEOUT,
) -> None:  # fmt: skip
    """Abort the orphaned uploads of the store ``open_store`` gives, within ``timeout``; ``who`` sweeps
    (``agent`` or ``in-process call``), for the log.

    The store is opened only when there is something to abort.
    """
    started = time.monotonic()
    plan = await anyio.to_thread.run_sync(find_orphans, journal)
    if plan.unreadable:
        log.log(logging.WARNING if who == AGENT else logging.DEBUG,
                "upload journal: %d files in %s are no record this version reads; left as they are: %s",
                len(plan.unreadable), journal.directory, ", ".join(plan.unreadable))  # fmt: skip
    if not plan.orphaned:
        return
    aborted: list[str] = []
    # What an agent says once at its start, each in-process call (one per table per segment) would repeat.
    quiet = logging.INFO if who == AGENT else logging.DEBUG
    with anyio.move_on_after(timeout) as scope:
        async with open_store() as store:
            mine, others = split_by_store(plan.orphaned, store.endpoint, store.bucket)
            for path, record in others:
                log.log(quiet, "upload journal: %s (pid %d, gone) left an upload open on %s s3://%s; this %s"
                        " uses %s s3://%s, so it is left for an agent of that store: %s", record.identity[:12],
                        record.owner.pid, record.endpoint, record.bucket, who, store.endpoint, store.bucket,
                        path)  # fmt: skip
            limiter = anyio.CapacityLimiter(SWEEP_CONCURRENCY)
            async with anyio.create_task_group() as tg:
                for path, record in mine:
                    tg.start_soon(_abort_one, journal, store, limiter, path, record, aborted)
    if scope.cancelled_caught:
        log.warning("upload journal: sweep stopped after %g s with %d uploads aborted; the rest stay for the next"
                    " agent", timeout, len(aborted))  # fmt: skip
    log.log(logging.INFO if aborted else quiet, "%s %d: upload journal swept in %.3f s: %d orphaned uploads"
            " aborted, %d records of running processes and %d of other hosts untouched", who, os.getpid(),
            time.monotonic() - started, len(aborted), plan.live, plan.other_host)  # fmt: skip


async def _abort_one(
    journal: UploadJournal, store: S3Store, limiter: anyio.CapacityLimiter, path: str, record: UploadRecord,
    aborted: list[str],
) -> None:  # fmt: skip
    where = store.url(record.key)
    owner = f"pid {record.owner.pid} ({record.identity[:12]}), gone"
    async with limiter:
        try:
            await store.abort_multipart_upload(record.key, record.upload_id)
            log.warning("upload journal: aborted the multipart upload of %s left open by %s (started %s)",
                        where, owner, record.started)  # fmt: skip
            aborted.append(path)
        except UploadNotFound:
            log.info("upload journal: the upload of %s recorded by %s had already ended", where, owner)
        except GpS3Error as err:
            log.warning("upload journal: could not abort the upload of %s left open by %s: %s; the record stays"
                        " for the next agent", where, owner, err)  # fmt: skip
            return
    journal.remove(path)


#: An in-process call sweeps for at most this long once its work is done (its exit waits for it).
CALL_SWEEP_TIMEOUT = 10.0


async def sweep_after_call(journal: UploadJournal, store: S3Store) -> None:
    """An in-process call's sweep, with the store it used, once its work is done (``agent: "off"`` has no
    agent to do it).  One call at a time: the others of the moment skip it (a lock beside the records)."""
    lock = await anyio.to_thread.run_sync(journal.try_sweep_lock)
    if lock is None:
        return
    try:
        await sweep_orphans(journal, lambda: _open_already(store), who="in-process call", timeout=CALL_SWEEP_TIMEOUT)
    finally:
        os.close(lock)


@asynccontextmanager
async def _open_already(store: S3Store) -> AsyncIterator[S3Store]:
    yield store
