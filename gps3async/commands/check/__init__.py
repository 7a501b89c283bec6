"""The ``check`` verb: before the first backup, try everything a backup and a restore do.

gpbackup never calls it; an operator does, once per account, bucket or network
change.  Under a scratch prefix inside the folder it runs every S3 operation
the plugin uses, writing one line per operation to stdout (ok, or the failure
and its likely fix from :mod:`gps3async.core.checkadvice`), reports multipart
uploads that failed backups left open (and aborts them when asked), measures
the link with a few 5 MiB parts and suggests a chunk size and a concurrency.
It reports the bucket's Object Lock and versioning, and with ``object_lock_mode``
set proves a locked write (:mod:`.objectlock`).
It probes what the store verifies (:mod:`gps3async.s3.storemodes.probe`: an upload with
a deliberately wrong CRC-32C, Content-MD5 and signed SHA-256 each) and prints,
per mode, whether the store accepts it and whether it verifies it, and the
cheapest verified mode (what ``auto`` picks).
When the store refuses the configured ``payload_signing`` or
``upload_checksum``, it tries the other modes (in the order of
:data:`~gps3async.core.storemodes.settings.CANDIDATES`) and recommends the first the store
accepts.
The scratch objects and uploads are removed in a shielded clean-up whatever
happened.  It raises (one stderr line, exit 1) unless a backup and a restore
would work.

``report`` writes the lines, ``operations`` runs the S3 operations and takes
the link samples, ``modes`` writes the store-mode and verification lines; this
module puts them together with the open-upload and speed lines.
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING

import anyio

from ...core.checkadvice import MIB, likely_fix, mode_settings, suggest
from ...core.configcopy import literal_secret_warning
from ...core.errors import GpS3Error
from ...core.keys import folder_prefix
from .modes import store_modes, verification
from .objectlock import object_lock_lines
from .operations import PART, TOGETHER, Probe
from .report import Report

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from ..invocation import Invocation

__all__ = ["ABORT_UPLOADS_FLAG", "PART", "check"]

log = logging.getLogger("gps3async")

ABORT_UPLOADS_FLAG = "--abort-uploads"


async def check(inv: Invocation, config: PluginConfig, source: str, flag: str | None) -> None:
    """Check that a backup and a restore would work with ``config`` (read from ``source``).

    :raises GpS3Error: one line saying which operations failed.
    """
    from ...s3.client import credential_source, tls_verify_arg

    report = Report(inv, config)
    style = f"{config.addressing_style}-style"
    verify = tls_verify_arg(config)
    tls = "TLS verified" if verify is not False else ("TLS NOT verified" if config.encryption else "no TLS")
    where = config.endpoint_url or "AWS " + (config.region or "us-east-1")
    await report.line("config", "ok", f"{source}: s3://{config.bucket}/{folder_prefix(config.folder)} at {where}")
    await report.line("connection", "info", f"{style}, {tls}, credentials from {config.credential_source}")
    if config.exposed_secrets:
        await report.line("secret in config", "warn", literal_secret_warning(config.exposed_secrets))
    if await report.step("credentials", lambda: credential_source(config), describe=str) is None:
        raise GpS3Error("check: no usable credentials; a backup or a restore would fail")
    scratch = f"{folder_prefix(config.folder)}gps3async-check-{secrets.token_hex(6)}/"
    async with inv.stores(config, concurrency=TOGETHER, uploads=True) as store:
        probe = Probe(store, report, scratch)
        try:
            await probe.run()
        finally:
            with anyio.move_on_after(30, shield=True):
                left = await probe.clean_up()
                if left:
                    await report.line("clean-up", "FAILED", f"could not remove {'; '.join(left)}: remove by hand")
        await object_lock_lines(report, store, config, scratch)
        works = await store_modes(report, config, store.modes, scratch)
        await verification(report, config, store.modes)
        await _open_uploads(report, store, config, scratch, abort=flag is not None)
    await _speed(report, probe)
    if report.failed:
        names = ", ".join(report.failed)
        advice = f"; set {mode_settings(works, store.modes)} in the config" if works else ""
        raise GpS3Error(f"check: {names} failed; a backup or a restore would fail (details on stdout){advice}")
    await report.line("result", "ok", "a backup and a restore would work")
    log.info("check %s: every operation succeeded", source)


async def _open_uploads(report: Report, store: S3Store, config: PluginConfig, scratch: str, *, abort: bool) -> None:
    """Report (or abort) multipart uploads left open under the folder by failed backups.

    A backup and a restore work without ListMultipartUploads, so a failure
    here is a warning: delete_backup then cannot find a failed backup's uploads.
    """
    folder = folder_prefix(config.folder)
    try:
        found = await store.list_uploads(folder)
    except GpS3Error as err:
        fix = likely_fix("ListMultipartUploads", err, bucket=config.bucket, folder=config.folder.rstrip("/"), kms=False)
        effect = "delete_backup cannot abort the unfinished uploads of failed backups"
        await report.line("ListMultipartUploads", "warn", f"{err}; {effect}; likely fix: {fix}")
        return
    await report.line("ListMultipartUploads", "ok", f"under {folder}")
    stale = [upload for upload in found if not upload.key.startswith(scratch)]
    if not stale:
        await report.line("unfinished uploads", "ok", f"none under {folder}")
        return
    oldest = min(upload.initiated for upload in stale)
    if not abort:
        detail = f"{len(stale)} under {folder} (oldest started {oldest}), left by failed backups and billed as storage"
        await report.line("unfinished uploads", "warn", f"{detail}; abort them with: check CONFIG {ABORT_UPLOADS_FLAG}")
        return

    async def abort_all() -> int:
        for upload in stale:
            await store.abort_multipart_upload(upload.key, upload.upload_id)
            log.info("check: aborted unfinished multipart upload of %s", store.url(upload.key))
        return len(stale)

    await report.step("unfinished uploads", abort_all, describe=lambda count: f"aborted {count} under {folder}")


async def _speed(report: Report, probe: Probe) -> None:
    """The measured link and what to set for it."""
    for label, samples in (("upload speed", probe.up), ("download speed", probe.down)):
        if len(samples) == 2:
            alone, together = samples
            rates = f"5 MiB alone {alone.bytes_per_second / 1e6:.1f} MB/s, "
            rates += f"{together.streams} x 5 MiB at once {together.bytes_per_second / 1e6:.1f} MB/s"
            await report.line(label, "info", rates)
    if len(probe.up) == 2 and len(probe.down) == 2 and probe.latency != float("inf"):
        up, down = suggest(probe.latency, *probe.up), suggest(probe.latency, *probe.down)
        settings = (
            f"backup_multipart_chunksize: {up.chunksize // MIB}MB, backup_max_concurrent_requests: {up.concurrency}, "
            f"restore_multipart_chunksize: {down.chunksize // MIB}MB, "
            f"restore_max_concurrent_requests: {down.concurrency}"
        )
        why = f"upload: {up.why}; download: {down.why}; memory per stream is chunk x (concurrency + 1)"
        await report.line("suggested settings", "info", f"{settings} ({why})")
