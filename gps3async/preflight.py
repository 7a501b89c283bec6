"""The ``check`` verb: before the first backup, try everything a backup and a restore do.

gpbackup never calls it; an operator does, once per account, bucket or network
change.  Under a scratch prefix inside the folder it runs every S3 operation
the plugin uses, writing one line per operation to stdout (ok, or the failure
and its likely fix from :mod:`gps3async.checkadvice`), reports multipart
uploads that failed backups left open (and aborts them when asked), measures
the link with a few 5 MiB parts and suggests a chunk size and a concurrency.
It probes what the store verifies (:mod:`gps3async.modeprobe`: an upload with
a deliberately wrong CRC-32C, Content-MD5 and signed SHA-256 each) and prints,
per mode, whether the store accepts it and whether it verifies it, and the
cheapest verified mode (what ``auto`` picks).
When the store refuses the configured ``payload_signing`` or
``upload_checksum``, it tries the other modes (in the order of
:data:`~gps3async.storemodes.CANDIDATES`) and recommends the first the store
accepts.
The scratch objects and uploads are removed in a shielded clean-up whatever
happened.  It raises (one stderr line, exit 1) unless a backup and a restore
would work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import time
from typing import TYPE_CHECKING, TypeVar

import anyio

from ._groups import first_failure
from .checkadvice import MIB, LinkSample, likely_fix, mode_settings, suggest
from .errors import GpS3Error, IntegrityError, ModeRefused
from .keys import folder_prefix
from .plan import ByteRange
from .stdio import FdSink
from .storemodes import CANDIDATES, StoreModes
from .verifiedmodes import DIGESTS, WIRE_NAMES, choose, mode_rows, mode_verified

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .config import PluginConfig
    from .invocation import Invocation
    from .storage import CompletedPart, S3Store

__all__ = ["ABORT_UPLOADS_FLAG", "PART", "check"]

log = logging.getLogger("gps3async")
T = TypeVar("T")

ABORT_UPLOADS_FLAG = "--abort-uploads"
#: The measuring part: S3's minimum size for a part that is not the last.
PART = 5 * MIB
#: Requests at once for the parallel samples.
TOGETHER = 3


class _Report:
    """The lines on stdout and what failed."""

    def __init__(self, inv: Invocation, config: PluginConfig) -> None:
        self._out = FdSink(inv.stdout, "stdout")
        self._config = config
        self.failed: dict[str, GpS3Error] = {}
        #: Operations that succeeded: a step runs only when everything it needs is here.
        self.done: set[str] = set()

    async def line(self, label: str, status: str, detail: str) -> None:
        await self._out.write(bytearray(f"{label:<24} {status:<7} {detail}\n", "utf-8"))

    async def step(
        self, op: str, action: Callable[[], Awaitable[T]], *, needs: tuple[str, ...] = (),
        describe: Callable[[T], str] | None = None,
    ) -> T | None:  # fmt: skip
        """Run ``action``; one line: ok with its time (and ``describe(value)``), skipped for a failed
        prerequisite, or the failure and its likely fix."""
        missing = [name for name in needs if name not in self.done]
        if missing:
            await self.line(op, "skipped", f"needs {', '.join(missing)}")
            return None
        started = time.monotonic()
        try:
            with first_failure():
                value = await action()
        except GpS3Error as err:
            self.failed[op] = err
            config = self._config
            fix = likely_fix(op, err, bucket=config.bucket, folder=config.folder.rstrip("/"),
                             kms=config.server_side_encryption == "aws:kms")  # fmt: skip
            await self.line(op, "FAILED", f"{err}; likely fix: {fix}")
            return None
        self.done.add(op)
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        await self.line(op, "ok", f"{describe(value)} ({took})" if describe else took)
        return value


class _Probe:
    """The operations, in the order a backup and then a restore need them, on scratch keys."""

    def __init__(self, store: S3Store, report: _Report, scratch: str) -> None:
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


async def check(inv: Invocation, config: PluginConfig, source: str, flag: str | None) -> None:
    """Check that a backup and a restore would work with ``config`` (read from ``source``).

    :raises GpS3Error: one line saying which operations failed.
    """
    from .s3client import credential_source, tls_verify_arg

    report = _Report(inv, config)
    style = f"{config.addressing_style}-style"
    verify = tls_verify_arg(config)
    tls = "TLS verified" if verify is not False else ("TLS NOT verified" if config.encryption else "no TLS")
    where = config.endpoint_url or "AWS " + (config.region or "us-east-1")
    await report.line("config", "ok", f"{source}: s3://{config.bucket}/{folder_prefix(config.folder)} at {where}")
    await report.line("connection", "info", f"{style}, {tls}, credentials from {config.credential_source}")
    if await report.step("credentials", lambda: credential_source(config), describe=str) is None:
        raise GpS3Error("check: no usable credentials; a backup or a restore would fail")
    scratch = f"{folder_prefix(config.folder)}gps3async-check-{secrets.token_hex(6)}/"
    async with inv.stores(config, concurrency=TOGETHER, uploads=True) as store:
        probe = _Probe(store, report, scratch)
        try:
            await probe.run()
        finally:
            with anyio.move_on_after(30, shield=True):
                left = await probe.clean_up()
                if left:
                    await report.line("clean-up", "FAILED", f"could not remove {'; '.join(left)}: remove by hand")
        works = await _store_modes(report, config, store.modes, scratch)
        await _verification(report, config, store.modes)
        await _open_uploads(report, store, config, scratch, abort=flag is not None)
    await _speed(report, probe)
    if report.failed:
        names = ", ".join(report.failed)
        advice = f"; set {mode_settings(works, store.modes)} in the config" if works else ""
        raise GpS3Error(f"check: {names} failed; a backup or a restore would fail (details on stdout){advice}")
    await report.line("result", "ok", "a backup and a restore would work")
    log.info("check %s: every operation succeeded", source)


async def _store_modes(
    report: _Report, config: PluginConfig, configured: StoreModes, scratch: str
) -> StoreModes | None:
    """Whether the store takes the ``payload_signing`` and ``upload_checksum`` in use (``configured``, as chosen
    when ``auto``); when it refused them, the first of the other modes it accepts, which is recommended.  One line
    per mode tried."""
    refused = [err for err in report.failed.values() if isinstance(err, ModeRefused)]
    if not refused:
        if {"PutObject", "UploadPart", "CompleteMultipartUpload"} <= report.done:
            await report.line("store modes", "ok", f"{configured.describe()} accepted")
        return None
    await report.line("store modes", "info", f"{configured.describe()} refused ({refused[0].fix}); trying the others")
    left: list[str] = []  # scratch objects a mode could write but not delete
    for number, modes in enumerate(CANDIDATES):
        if modes == configured:
            continue
        label = f"modes {modes.payload_signing}/{modes.upload_checksum}"
        started = time.monotonic()
        try:
            with first_failure():
                await _try_modes(_in_modes(config, modes), f"{scratch}modes-{number}/", left)
        except GpS3Error as err:
            await report.line(label, "refused" if isinstance(err, ModeRefused) else "FAILED", str(err))
            continue
        took = f"{(time.monotonic() - started) * 1000:.0f} ms"
        await report.line(label, "ok", f"PutObject, a multipart upload and DeleteObjects accepted ({took})")
        await report.line("recommended", "info", f"set {mode_settings(modes, configured)} in the config")
        if left:
            await _try_modes(_in_modes(config, modes), "", left, delete_only=True)
        return modes
    none = "the store accepted none of the payload_signing and upload_checksum modes"
    await report.line("recommended", "FAILED", none)
    if left:
        await report.line("clean-up", "FAILED", f"could not remove {', '.join(left)}: remove by hand")
    return None


async def _verification(report: _Report, config: PluginConfig, used: StoreModes) -> None:
    """What the store verifies: the three probes with a wrong digest (run afresh, even on AWS), then one line per
    mode (accepted? verified? its cost) and the cheapest verified mode, which ``auto`` picks."""
    from .modeprobe import probe_findings, sha_accelerated

    findings = await probe_findings(config)
    for digest in DIGESTS:
        found = findings.by_digest.get(digest)
        if found is not None:
            await report.line(f"probe {digest}", "info", f"a wrong {WIRE_NAMES[digest]}: {found.describe()}")
    if findings.unsigned_refused:
        await report.line("probe unsigned", "info", "unsigned payloads refused; the digests were probed signed")
    rows = mode_rows(findings, sha_accelerated=sha_accelerated())
    for row in rows:
        await report.line(f"mode {row.modes.payload_signing}/{row.modes.upload_checksum}", row.status, row.describe())
    choice = choose(findings, sha_accelerated=sha_accelerated())
    name = f"payload_signing: {choice.modes.payload_signing}, upload_checksum: {choice.modes.upload_checksum}"
    if not choice.probed:
        await report.line("verified mode", "warn", f"the probes could not tell; auto would use {name} (fail-safe)")
    elif not choice.verified:
        unverified = "none: the store verifies no mode; uploads are NOT verified on arrival"
        unverified += f" (each restore still checks the object's CRC-32C); cheapest accepted: {name}"
        await report.line("verified mode", "warn", unverified)
    elif config.auto_modes:
        await report.line("verified mode", "ok", f"{name}, the cheapest mode the store verifies (auto picks it)")
    elif mode_verified(findings, used):
        await report.line("verified mode", "ok", f"{used.describe()} is verified; the cheapest verified is {name}")
    else:
        await report.line("verified mode", "warn", f"{used.describe()} is NOT verified by this store;"
                          f" recommended: {name} (or both auto)")  # fmt: skip


def _in_modes(config: PluginConfig, modes: StoreModes) -> PluginConfig:
    return dataclasses.replace(config, payload_signing=modes.payload_signing, upload_checksum=modes.upload_checksum)


async def _try_modes(config: PluginConfig, prefix: str, left: list[str], *, delete_only: bool = False) -> None:
    """A small PutObject, a one-part multipart upload and a DeleteObjects of both, in ``config``'s modes.

    Objects written but not deleted are added to ``left``; ``delete_only``
    deletes ``left`` instead.  A fresh client, not the call's store: a
    client's signing and checksum hooks are registered for one mode, and the
    agent shares one client built for the configured modes.
    """
    from .s3client import open_store

    small, multi = prefix + "object", prefix + "multipart"
    async with open_store(config, concurrency=1) as store:
        if delete_only:
            with anyio.move_on_after(30, shield=True), contextlib.suppress(GpS3Error):
                await store.delete_objects(left)
                left.clear()
            return
        written: list[str] = []
        try:
            await store.put_object(small, b"x", metadata={})
            written.append(small)
            upload_id = await store.create_multipart_upload(multi)
            try:
                part = await store.upload_part(multi, upload_id, 1, b"y" * 1024)  # the last part may be small
                await store.complete_multipart_upload(multi, upload_id, [part])
            except BaseException:
                with anyio.move_on_after(30, shield=True), contextlib.suppress(GpS3Error):
                    await store.abort_multipart_upload(multi, upload_id)
                raise
            written.append(multi)
            await store.delete_objects(written)
            written = []
        finally:
            left.extend(written)  # DeleteObjects failed in this mode: deleted by the mode that works


async def _open_uploads(report: _Report, store: S3Store, config: PluginConfig, scratch: str, *, abort: bool) -> None:
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


async def _speed(report: _Report, probe: _Probe) -> None:
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
