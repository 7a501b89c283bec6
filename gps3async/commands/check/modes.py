"""The store-mode lines of ``check``: whether the store takes the configured ``payload_signing`` and
``upload_checksum`` (and which other modes it takes when not), and what it verifies of each
(:mod:`gps3async.s3.storemodes.probe`)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

import anyio

from ...core.checkadvice import mode_settings
from ...core.errors import GpS3Error, ModeRefused
from ...core.storemodes.settings import CANDIDATES, StoreModes
from ...core.storemodes.verified import DIGESTS, WIRE_NAMES, choose, mode_rows, mode_verified
from ...runtime.groups import first_failure

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from .report import Report


async def store_modes(report: Report, config: PluginConfig, configured: StoreModes, scratch: str) -> StoreModes | None:
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


async def verification(report: Report, config: PluginConfig, used: StoreModes) -> None:
    """What the store verifies: the three probes with a wrong digest (run afresh, even on AWS), then one line per
    mode (accepted? verified? its cost) and the cheapest verified mode, which ``auto`` picks."""
    from ...s3.storemodes.probe import probe_findings, sha_accelerated

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
    from ...s3.client import open_store

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
