"""The ``verify`` verb's shallow pass: list the backup set, read its config and TOCs, check each object's record.

One listing per timestamp, the config and TOC files read to learn what must be
there (:mod:`gps3async.core.verify.expect`), then for each object its recorded
size and CRC-32C (a HEAD for the metadata of a single PutObject, a small GET
for a multipart upload's companion) against the listed size.  Encrypted config
and TOC files are opened with the configured key; without one, a ``NO-KEY``
line says which checks that skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from ...core import keys
from ...core.encryption.format import is_encrypted, object_name
from ...core.errors import EncryptionKeyError, GpS3Error, IntegrityError, ObjectNotFound, UsageError
from ...core.integrity.checksums import DIGEST_SUFFIX, expected_digest, parse_digest_document
from ...core.verify.expect import (
    BackupSetConfig,
    DataEntry,
    Expected,
    UnreadableFile,
    file_name,
    parse_backup_config,
    parse_toc,
    plan_files,
)
from ...core.verify.findings import Finding, Kind, Record, listed_finding
from ...runtime.groups import first_failure
from ...transfer.encryption.restore import open_in_memory
from .retention import check_retention

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ...core.config import PluginConfig
    from ...core.encryption.keys import Keyring
    from ...s3.storage import S3Store

__all__ = ["SHALLOW_AT_ONCE", "SetCheck", "SetObject"]

#: HEADs and companion GETs in flight during the shallow pass.
SHALLOW_AT_ONCE = 16


@dataclass
class SetObject:
    """One object of the backup set as the shallow pass saw it."""

    key: str
    size: int
    record: Record | None = None
    etag: str = ""


class SetCheck:
    """The checks of one backup set, reporting each finding as it is made."""

    def __init__(
        self,
        store: S3Store,
        config: PluginConfig,
        timestamp: str,
        report: Callable[[Finding], Awaitable[None]],
        *,
        deep: bool,
        keyring: Keyring | None,
    ) -> None:
        self.store, self.config, self.timestamp, self.deep = store, config, timestamp, deep
        self.report = report
        self.keyring = keyring
        #: Roles of the coordinator files found encrypted with no key configured (``config``, ``TOC``).
        self.sealed: list[str] = []
        self.listed: dict[str, int] = {}
        self.listed_prefixes: set[str] = set()
        #: URLs of the objects checked (those a problem was found in are subtracted from "checked").
        self.urls: set[str] = set()

    def key(self, timestamp: str, name: str) -> str:
        return keys.backup_prefix(self.config.folder, timestamp) + name

    async def list_backup(self, timestamp: str) -> None:
        prefix = keys.backup_prefix(self.config.folder, timestamp)
        if prefix in self.listed_prefixes:
            return
        self.listed_prefixes.add(prefix)
        async for item in self.store.list_objects(prefix):
            if not item.key.endswith("/"):
                self.listed[item.key] = item.size

    async def read_file(self, timestamp: str, suffix: str, what: str) -> str | None:
        """The text of a coordinator file of ``timestamp``; ``None`` (after a finding) when missing or unreadable."""
        key = self.key(timestamp, file_name(timestamp, suffix))
        if key not in self.listed:
            return None  # reported with every other missing file
        body = await self.store.get_small_object(key)
        if body is None:
            await self.report(Finding(Kind.MISSING, self.store.url(key), f"the {what} file vanished while verifying"))
            return None
        if is_encrypted(body):
            if self.keyring is None:
                if what not in self.sealed:
                    self.sealed.append(what)
                return None
            opened = await self.open_small(key, body, what)
            if opened is None:
                return None
            body = opened
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            await self.report(Finding(Kind.CORRUPT, self.store.url(key), f"the {what} file is not UTF-8 text"))
            return None

    async def open_small(self, key: str, body: bytes, what: str) -> bytes | None:
        """The plaintext of an encrypted coordinator file; ``None`` (after a finding) when it does not open."""
        url = self.store.url(key)
        try:
            return await open_in_memory(body, self.keyring, object_name(self.config.folder, key), url)
        except EncryptionKeyError as err:
            await self.report(Finding(Kind.UNREADABLE, url, f"the {what} file: {err}".replace(f"{url} ", "", 1)))
            return None
        except IntegrityError as err:
            await self.report(Finding(Kind.CORRUPT, url, f"the {what} file: {str(err).removeprefix(f'{url}: ')}"))
            return None

    async def parsed(self, timestamp: str, suffix: str, what: str, parse: Callable[[str], object]) -> object | None:
        text = await self.read_file(timestamp, suffix, what)
        if text is None:
            return None
        try:
            return parse(text)
        except UnreadableFile as err:
            url = self.store.url(self.key(timestamp, file_name(timestamp, suffix)))
            await self.report(Finding(Kind.CORRUPT, url, f"gprestore could not read it: {err}"))
            return None

    async def shallow(self) -> list[SetObject]:
        """Every listed object of the backup (and the files of its incremental bases a restore opens), checked
        against its record; one finding per missing file and per object that differs or cannot be checked."""
        ts = self.timestamp
        await self.list_backup(ts)
        backup = await self.parsed(ts, "config.yaml", "config", parse_backup_config)
        toc = await self.parsed(ts, "toc.yaml", "TOC", parse_toc)
        wanted: list[Expected] = []
        if isinstance(backup, BackupSetConfig):
            wanted = await self.expected(backup, toc if isinstance(toc, list) else None)
        else:
            for suffix, role in (("config.yaml", "config"), ("toc.yaml", "TOC")):
                wanted.append(Expected(ts, file_name(ts, suffix), role))
        if self.sealed:
            await self.report_sealed()
        elif not isinstance(backup, BackupSetConfig):
            await self.report(Finding(Kind.BACKUP, self.store.url(keys.backup_prefix(self.config.folder, ts)),
                                      "without a readable config file the data files a restore needs are unknown; "
                                      "only the objects present are checked"))  # fmt: skip
        for item in wanted:
            key = self.key(item.timestamp, item.name)
            if key not in self.listed:
                await self.report(Finding(Kind.MISSING, self.store.url(key), f"the {item.role} file a restore opens",
                                          expected="an object", seen="none listed"))  # fmt: skip
        own = keys.backup_prefix(self.config.folder, ts)
        chosen = {self.key(item.timestamp, item.name) for item in wanted}
        objects = [
            SetObject(key, size)
            for key, size in sorted(self.listed.items())
            if not key.endswith(DIGEST_SUFFIX) and (key.startswith(own) or key in chosen)
        ]
        await self.records(objects)
        await check_retention(
            self.store, self.config, ts, sorted(k for k in self.listed if k.startswith(own)), self.report
        )
        return objects

    async def expected(self, backup: BackupSetConfig, toc: list[DataEntry] | None) -> list[Expected]:
        ts, url = self.timestamp, self.store.url(keys.backup_prefix(self.config.folder, self.timestamp))
        if backup.timestamp != ts:
            await self.report(Finding(Kind.BACKUP, url, f"its config file names backup {backup.timestamp}",
                                      expected=ts, seen=backup.timestamp))  # fmt: skip
        if backup.status and backup.status != "Success":
            await self.report(Finding(Kind.BACKUP, url, f"gpbackup recorded its status as {backup.status!r}",
                                      expected="Success", seen=backup.status))  # fmt: skip
        tocs: dict[str, list[DataEntry]] = {}
        if toc is not None:
            tocs[ts] = toc
        elif not backup.metadata_only and "TOC" not in self.sealed:
            await self.report(Finding(Kind.BACKUP, url, "without a readable TOC the data files a restore needs are "
                                      "unknown; only the objects present are checked"))  # fmt: skip
        for entry in backup.restore_plan:
            if entry.timestamp in tocs or entry.timestamp == ts:
                continue
            try:
                keys.validate_timestamp(entry.timestamp)
            except UsageError:
                await self.report(Finding(Kind.BACKUP, url, f"its restore plan names {entry.timestamp!r}"))
                continue
            await self.list_backup(entry.timestamp)
            base = await self.parsed(entry.timestamp, "toc.yaml", "TOC", parse_toc)
            if isinstance(base, list):
                tocs[entry.timestamp] = base
        plan = plan_files(backup, tocs)
        for base_ts, fqn in plan.unmatched:
            base_url = self.store.url(self.key(base_ts, file_name(base_ts, "toc.yaml")))
            await self.report(Finding(Kind.BACKUP, base_url, f"the restore plan takes {fqn} from here; "
                                      "this TOC does not list it"))  # fmt: skip
        return list(plan.wanted)

    async def report_sealed(self) -> None:
        """The one line for coordinator files encrypted with no key configured: the checks that were skipped."""
        skipped = []
        if "config" in self.sealed:
            skipped.append("the backup's timestamp, status and restore plan")
        if "TOC" in self.sealed:
            skipped.append("which data files a restore needs (any missing one goes unnoticed)")
        files = " and ".join(f"{role} file" for role in self.sealed)
        await self.report(Finding(Kind.NOKEY, self.store.url(keys.backup_prefix(self.config.folder, self.timestamp)),
                                  f"its {files} {'are' if len(self.sealed) > 1 else 'is'} encrypted and no "
                                  f"client_side_encryption key is configured; not checked: {'; '.join(skipped)}; "
                                  "the objects present are checked against their recorded digests"))  # fmt: skip

    async def records(self, objects: list[SetObject]) -> None:
        """Each object's recorded size and CRC-32C against its listed size, :data:`SHALLOW_AT_ONCE` at a time."""
        limiter = anyio.CapacityLimiter(SHALLOW_AT_ONCE)

        async def one(item: SetObject) -> None:
            async with limiter:
                finding = await self.record_of(item)
            # With --deep, whether an object without a record is checked is known only once it was read.
            if finding is not None and not (self.deep and finding.kind is Kind.UNCHECKED):
                await self.report(finding)

        with first_failure():
            async with anyio.create_task_group() as tg:
                for item in objects:
                    self.urls.add(self.store.url(item.key))
                    tg.start_soon(one, item)

    async def record_of(self, item: SetObject) -> Finding | None:
        url = self.store.url(item.key)
        try:
            if item.key + DIGEST_SUFFIX in self.listed:
                document = await self.store.get_small_object(item.key + DIGEST_SUFFIX)
                found = parse_digest_document(document) if document is not None else None
                if found is None:
                    return Finding(Kind.CORRUPT, url, f"its digest companion {DIGEST_SUFFIX} cannot be read")
                item.record = Record(found[0], found[1], "companion")
            else:
                head = await self.store.head_object(item.key)
                item.etag = head.etag
                found = expected_digest(head.metadata)
                item.record = Record(found[0], found[1], "metadata") if found else None
        except ObjectNotFound:
            return Finding(Kind.MISSING, url, "listed, then gone while verifying")
        except GpS3Error as err:
            return Finding(Kind.UNREADABLE, url, str(err))
        return listed_finding(url, item.size, item.record, item.etag)
