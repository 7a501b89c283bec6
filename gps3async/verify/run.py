"""The ``verify`` verb's I/O: list the backup set, read its config and TOCs, check each object, deep-read.

Shallow pass: one listing per timestamp, the config and TOC files read to
learn what must be there (:mod:`.expect`), then for each object its recorded
size and CRC-32C (a HEAD for the metadata of a single PutObject, a small GET
for a multipart upload's companion) against the listed size.  ``--deep``
then reads every object back whole through
:func:`~gps3async.download.restore_object` into a sink that discards it, so
the restore path's own checks apply (size, CRC-32C of the whole object and
of every block, a Go-plugin object's ETag), several objects at once with
their buffers drawn from one :class:`~gps3async.buffers.MemoryBudget`.

Client-side encryption: the config and TOC files, when encrypted, are opened
with the configured key; without one, a ``NO-KEY`` line says which checks
that skipped.  With ``--deep`` and a key, an encrypted object is also opened
segment by segment (:class:`~gps3async.encryption.OpeningSink`, plaintext
discarded), so a wrong key or a tampered segment is a problem line; without
a key its stored bytes are still checked against their digests and a
``NO-KEY`` line says its authenticity was not.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import crc32c

from .. import keys
from .._groups import first_failure
from ..buffers import MemoryBudget
from ..checksums import DIGEST_SUFFIX, encode_crc32c, expected_digest, parse_digest_document
from ..download import DownloadStats, restore_object
from ..encryption import OpeningSink, load_keyring, object_name, open_in_memory
from ..encryption.format import MAGIC, is_encrypted
from ..encryption.streams import CIPHER_STREAM_BYTES
from ..errors import EncryptionKeyError, GpS3Error, IntegrityError, ObjectNotFound, UsageError
from ..stdio import FdSink
from .expect import (
    BackupSetConfig,
    DataEntry,
    Expected,
    UnreadableFile,
    file_name,
    parse_backup_config,
    parse_toc,
    plan_files,
)
from .findings import Finding, Kind, Record, Tally, failure_line, listed_finding, no_record_reason

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..config import PluginConfig
    from ..encryption.keys import Keyring
    from ..invocation import Invocation
    from ..storage import S3Store

__all__ = ["DEEP_FLAG", "OBJECTS_AT_ONCE", "SHALLOW_AT_ONCE", "verify"]

log = logging.getLogger("gps3async")

DEEP_FLAG = "--deep"
#: Objects ``--deep`` reads at once (each with up to ``restore_max_concurrent_requests`` ranged GETs).
OBJECTS_AT_ONCE = 8
#: HEADs and companion GETs in flight during the shallow pass.
SHALLOW_AT_ONCE = 16
#: What an :class:`~gps3async.encryption.OpeningSink` allocates for an encrypted object (its plaintext
#: batch and its carry of one stored segment), besides the restore's pool.
OPENING_BYTES = CIPHER_STREAM_BYTES


@dataclass
class _Object:
    """One object of the backup set as the shallow pass saw it."""

    key: str
    size: int
    record: Record | None = None
    etag: str = ""


class _DiscardSink:
    """Counts what a deep read delivers; keeps a CRC-32C when ``restore_object`` would not check one itself.

    The stored bytes are counted and digested; with ``opening`` (a key is
    configured) they also go through it, which authenticates an encrypted
    object's segments and discards their plaintext.
    """

    def __init__(self, *, crc: bool, opening: OpeningSink | None) -> None:
        self.size = 0
        self.crc: int | None = 0 if crc else None
        self.opening = opening
        self._first = bytearray()

    async def write(self, data: bytearray | memoryview) -> None:
        self.size += len(data)
        if self.crc is not None:
            self.crc = crc32c.crc32c(data, self.crc)
        if len(self._first) < len(MAGIC):
            self._first += memoryview(data)[: len(MAGIC) - len(self._first)]
        if self.opening is not None:
            await self.opening.write(data)

    @property
    def encrypted(self) -> bool:
        """Whether the stored bytes begin as an encrypted object does."""
        return is_encrypted(self._first)


class _Discard:
    """Keeps nothing: a deep read opens an encrypted object only to authenticate it."""

    async def write(self, data: bytearray | memoryview) -> None:
        return None


async def verify(inv: Invocation, config: PluginConfig, timestamp: str, flag: str | None) -> None:
    """Check backup ``timestamp``: every file a restore needs is there, and each object matches its record.

    :raises GpS3Error: one line, when anything is missing, different or unreadable.
    """
    if flag not in (None, DEEP_FLAG):
        raise UsageError(f"unknown verify option {flag!r}; usage: verify CONFIG TIMESTAMP [{DEEP_FLAG}]")
    deep = flag is not None
    started = time.monotonic()
    out = FdSink(inv.stdout, "stdout")
    writing = anyio.Lock()  # findings come from concurrent tasks; a line is written whole
    findings: list[Finding] = []
    tally = Tally()

    async def report(finding: Finding) -> None:
        findings.append(finding)
        (log.error if finding.problem else log.warning)("verify %s: %s", timestamp, finding.log_line())
        async with writing:
            await out.write(bytearray(finding.line() + "\n", "utf-8"))

    keyring = load_keyring(config.client_encryption)  # a key file that cannot be used: one line, before any read
    at_once = OBJECTS_AT_ONCE if deep else 1
    async with inv.stores(config, concurrency=max(SHALLOW_AT_ONCE, at_once * config.restore_concurrency)) as store:
        check = _SetCheck(store, config, timestamp, report, deep=deep, keyring=keyring)
        objects = await check.shallow()
        for item in objects:
            tally.objects += 1
            tally.bytes += item.size
        if deep:
            await check.read_all(objects, inv.budget, tally)
    tally.count(findings, check.urls)
    summary = tally.summary(timestamp, time.monotonic() - started, deep=deep)
    log.info("%s", summary)
    await out.write(bytearray(summary + "\n", "utf-8"))
    if tally.problems:
        raise IntegrityError(failure_line(timestamp, tally.problems))


class _SetCheck:
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

    async def shallow(self) -> list[_Object]:
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
            _Object(key, size)
            for key, size in sorted(self.listed.items())
            if not key.endswith(DIGEST_SUFFIX) and (key.startswith(own) or key in chosen)
        ]
        await self.records(objects)
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

    async def records(self, objects: list[_Object]) -> None:
        """Each object's recorded size and CRC-32C against its listed size, :data:`SHALLOW_AT_ONCE` at a time."""
        limiter = anyio.CapacityLimiter(SHALLOW_AT_ONCE)

        async def one(item: _Object) -> None:
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

    async def record_of(self, item: _Object) -> Finding | None:
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

    async def read_all(self, objects: list[_Object], budget: MemoryBudget | None, tally: Tally) -> None:
        """Read every object back whole, :data:`OBJECTS_AT_ONCE` at a time, within one memory budget.

        The agent's host budget is used when it has a limit; otherwise this
        call gets its own, ``host_memory_limit`` or enough for
        :data:`OBJECTS_AT_ONCE` objects at the restore settings (and, with a
        key, their :data:`OPENING_BYTES`).
        """
        config = self.config
        chunksize, concurrency = config.restore_chunksize, config.restore_concurrency
        if budget is None or budget.limit is None:
            limit = config.host_memory_limit or OBJECTS_AT_ONCE * ((concurrency + 1) * chunksize + OPENING_BYTES)
            budget = MemoryBudget(limit, keep_idle=0)
        limiter = anyio.CapacityLimiter(OBJECTS_AT_ONCE)
        reading = peak = 0
        # With a key, each object read at once may open segments: their buffers come out of the same
        # budget, reserved once for all of them (per object, a reader holding them while its pool
        # waits could starve the others' pools).
        opening = OPENING_BYTES * min(OBJECTS_AT_ONCE, len(objects)) if self.keyring is not None else 0
        await budget.reserve(opening)

        async def one(item: _Object) -> None:
            nonlocal reading, peak
            async with limiter:
                reading += 1
                peak = max(peak, reading)
                try:
                    finding = await self.read_back(item, budget, min(chunksize, max(item.size, 1)), concurrency, tally)
                finally:
                    reading -= 1
            if finding is not None:
                await self.report(finding)

        try:
            with first_failure():
                async with anyio.create_task_group() as tg:
                    for item in objects:
                        tg.start_soon(one, item)
        finally:
            budget.release(opening)
        log.info("verify %s --deep: %d objects read, at most %d at once; buffers peaked at %d bytes of a %s-byte "
                 "budget", self.timestamp, len(objects), peak, budget.peak_reserved, budget.limit)  # fmt: skip

    async def read_back(
        self, item: _Object, budget: MemoryBudget, chunksize: int, concurrency: int, tally: Tally
    ) -> Finding | None:
        """Read one object through the restore path; a finding for what it did not survive.

        A multipart object no larger than one GET is read without its
        companion by ``restore_object`` (it fetches the companion only when a
        second GET is needed), so the sink keeps the CRC-32C here for those.
        """
        url = self.store.url(item.key)
        record = item.record
        own_crc = record is not None and record.source == "companion" and item.size <= chunksize
        opening = None
        if self.keyring is not None:
            opening = OpeningSink(_Discard(), self.keyring, object_name(self.config.folder, item.key), url)
        sink = _DiscardSink(crc=own_crc, opening=opening)
        try:
            stats = await restore_object(self.store, item.key, sink, chunksize=chunksize, concurrency=concurrency,
                                         memory=budget)  # fmt: skip
            if opening is not None:
                await opening.finish()  # the last segment; a truncated object fails here
        except EncryptionKeyError as err:  # encrypted under a key none of the configured ones is
            return Finding(Kind.UNREADABLE, url, str(err).removeprefix(f"{url} ").removeprefix(f"{url}: "))
        except IntegrityError as err:  # its message says what was read and what was recorded (block or part too)
            return Finding(Kind.CORRUPT, url, str(err).removeprefix(f"GetObject {url}: ").removeprefix(f"{url}: "))
        except ObjectNotFound:
            return Finding(Kind.MISSING, url, "listed, then gone while verifying")
        except GpS3Error as err:
            return Finding(Kind.UNREADABLE, url, str(err))
        finally:
            tally.read_bytes += sink.size
        if own_crc and record is not None and (sink.crc != record.crc32c or sink.size != record.size):
            seen = f"{sink.size} bytes, CRC-32C {encode_crc32c(sink.crc or 0)}"
            return Finding(Kind.CORRUPT, url, f"read back {seen}; the backup recorded {record.describe()}",
                           expected=record.describe(), seen=seen)  # fmt: skip
        if record is not None and not (stats.verified or own_crc):
            return Finding(Kind.CORRUPT, url, "its recorded CRC-32C was not found when read back",
                           expected=record.describe(), seen="no record on the object read")  # fmt: skip
        if record is None and not _content_verified(stats):
            return Finding(Kind.UNCHECKED, url, no_record_reason(item.etag, deep=True))
        if opening is None and sink.encrypted:
            return Finding(Kind.NOKEY, url, "encrypted, and no client_side_encryption key is configured: its stored "
                                            "bytes were checked, its authenticity was not")  # fmt: skip
        return None


def _content_verified(stats: DownloadStats) -> bool:
    """Whether the restore path checked the content of an object without a gps3async digest.

    ``restore_object`` checks every digest it finds (the CRC-32C of the whole
    object and of each block, a Go-plugin object's plain-MD5 or
    MD5-of-part-MD5s ETag) and says in ``stats.verified`` whether one was.
    """
    return stats.verified
