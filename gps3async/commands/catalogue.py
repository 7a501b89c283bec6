"""The ``list`` and ``expire`` verbs' I/O: one listing of the folder, one small read per set, the deletes.

Everything they decide is pure (:mod:`gps3async.core.catalogue`): here the
folder is listed once, each set's ``gpbackup_<TS>_config.yaml`` read once
(:data:`CONFIGS_AT_ONCE` in flight; opened with the configured key when it
is encrypted), the open multipart uploads listed once; ``expire`` then
deletes the planned sets newest first through
:func:`~gps3async.commands.plugin.housekeeping.delete_backup_set`, exactly the
objects its listing found (what ``--dry-run`` prints).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import anyio

from ..core import keys
from ..core.catalogue.locks import Retention, hold_retained, retained_error, retention_key, with_retention
from ..core.catalogue.options import parse_expire, parse_list
from ..core.catalogue.render import chain_of, expiry_block, json_document, protected_lines, set_detail, set_table
from ..core.catalogue.retention import plan_expiry
from ..core.catalogue.sets import (
    MISSING,
    READ,
    SEALED,
    UNREADABLE,
    BackupSet,
    ConfigRead,
    Listed,
    UnfinishedUpload,
    build_sets,
    config_name,
    group_by_set,
    unfinished_upload,
)
from ..core.encryption.format import is_encrypted, object_name
from ..core.errors import AccessDenied, EncryptionKeyError, GpS3Error, IntegrityError, StorageError
from ..core.integrity.checksums import DIGEST_SUFFIX, expected_digest
from ..core.verify.expect import UnreadableFile, parse_config_document
from ..runtime.groups import first_failure
from ..transfer.encryption.keyfiles import load_keyring
from ..transfer.encryption.restore import open_in_memory
from ..transfer.stdio import FdSink
from .plugin.housekeeping import delete_backup_set
from .plugin.versions import keeps_versions

if TYPE_CHECKING:
    from collections.abc import Callable

    from ..core.config import PluginConfig
    from ..core.encryption.keys import Keyring
    from ..s3.storage import S3Store
    from .invocation import Invocation

__all__ = ["CONFIGS_AT_ONCE", "expire", "list_backups"]

log = logging.getLogger("gps3async")

#: Config files read at once while listing.
CONFIGS_AT_ONCE = 16


class _Catalogue:
    """The folder as one listing, each set's config read once, and the open uploads."""

    def __init__(self, store: S3Store, config: PluginConfig, keyring: Keyring | None) -> None:
        self.store, self.config, self.keyring = store, config, keyring
        self.sets: list[BackupSet] = []
        #: ``None`` when the credentials may not list them.
        self.uploads: list[UnfinishedUpload] | None = None

    async def load(self, now: datetime) -> None:
        root = keys.folder_prefix(self.config.folder)
        listing = [Listed(item.key, item.size) async for item in self.store.list_objects(root)]
        listing = [item for item in listing if not item.key.endswith("/")]
        names = {item.key for item in listing}
        reads: dict[str, ConfigRead] = {}
        locks: dict[str, Retention] = {}
        refused: list[str] = []
        limiter = anyio.CapacityLimiter(CONFIGS_AT_ONCE)  # config reads and retention reads together

        async def one(timestamp: str, key: str) -> None:
            async with limiter:
                reads[timestamp] = await self.read_config(key, recorded=key + DIGEST_SUFFIX in names)

        async def lock_of(timestamp: str, key: str) -> None:
            async with limiter:
                try:
                    locks[timestamp] = Retention(*await self.store.retention_of(key))
                except GpS3Error as err:  # denied, or a store without Object Lock: no column at all
                    refused.append(str(err))

        groups = group_by_set(self.config.folder, listing)
        shows_retention = bool(groups) and await self.shows_retention()
        with first_failure():
            async with anyio.create_task_group() as tg:
                for timestamp, items in groups.items():
                    prefix = keys.backup_prefix(self.config.folder, timestamp)
                    key = prefix + config_name(timestamp)
                    if key in names:
                        tg.start_soon(one, timestamp, key)
                    if shows_retention:
                        tg.start_soon(lock_of, timestamp, retention_key(prefix, timestamp, items))
        self.sets = build_sets(self.config.folder, listing, reads)
        if refused:
            log.info("GetObjectRetention refused for %d of %d sets (%s); retention not shown",
                     len(refused), len(groups), refused[0])  # fmt: skip
        elif shows_retention:
            self.sets = with_retention(self.sets, locks)
        try:
            opened = await self.store.list_uploads(root)
        except AccessDenied as err:
            log.warning("%s; unfinished uploads under %s are not listed", err, self.store.url(root))
            return
        self.uploads = [unfinished_upload(u.key, u.upload_id, u.initiated, now) for u in opened]

    async def shows_retention(self) -> bool:
        """Whether each set's retention is read: the config has Object Lock options, or the bucket has Object
        Lock enabled (one GetObjectLockConfiguration)."""
        lock = self.config.object_lock
        if lock.locks_writes or lock.bypass_governance:
            return True
        bucket = f"s3://{self.config.bucket}"
        try:
            found = await self.store.bucket_lock()
        except GpS3Error as err:  # denied, or a store that has no Object Lock
            log.info("Object Lock of %s unknown (%s); retention not shown", bucket, err)
            return False
        if not found.enabled:
            log.info("%s has no Object Lock; retention not shown", bucket)
        return found.enabled

    async def read_config(self, key: str, *, recorded: bool) -> ConfigRead:
        try:
            found = await self.store.get_small_object_and_metadata(key)
        except StorageError as err:  # access denied, an archive storage class...: the other sets still list
            return ConfigRead(UNREADABLE, problem=str(err))
        if found is None:
            return ConfigRead(MISSING)  # deleted since the listing
        body, metadata = found
        recorded = recorded or expected_digest(metadata) is not None
        encrypted = is_encrypted(body)
        if encrypted:
            if self.keyring is None:
                return ConfigRead(SEALED, encrypted=True, recorded=recorded)
            name = object_name(self.config.folder, key)
            try:
                body = await open_in_memory(body, self.keyring, name, self.store.url(key))
            except (EncryptionKeyError, IntegrityError) as err:
                return ConfigRead(UNREADABLE, encrypted=True, recorded=recorded, problem=str(err))
        try:
            parsed, document = parse_config_document(body.decode("utf-8"))
        except UnicodeDecodeError:
            return ConfigRead(UNREADABLE, encrypted=encrypted, recorded=recorded, problem="not UTF-8 text")
        except UnreadableFile as err:
            return ConfigRead(UNREADABLE, encrypted=encrypted, recorded=recorded, problem=str(err))
        database = str(document.get("databasename") or "")
        return ConfigRead(READ, parsed, database, encrypted, recorded)


async def _loaded(store: S3Store, config: PluginConfig) -> _Catalogue:
    catalogue = _Catalogue(store, config, load_keyring(config.client_encryption))
    await catalogue.load(datetime.now(timezone.utc))
    return catalogue


async def _write(inv: Invocation, text: str) -> None:
    await FdSink(inv.stdout, "stdout").write(bytearray(text, "utf-8"))


async def list_backups(inv: Invocation, config: PluginConfig, args: list[str]) -> None:
    """Every backup set under the folder (or one set's chain), and the open multipart uploads."""
    options = parse_list(args)
    async with inv.stores(config, concurrency=CONFIGS_AT_ONCE) as store:
        catalogue = await _loaded(store, config)
        root = store.url(keys.folder_prefix(config.folder))
        url = store.url
    sets, uploads = catalogue.sets, catalogue.uploads or []
    shown = sets
    if options.timestamp is not None:
        prefix = keys.backup_prefix(config.folder, options.timestamp)
        if options.timestamp not in {backup.timestamp for backup in sets}:
            raise GpS3Error(f"no backup set {options.timestamp} under {root}")
        shown = chain_of(sets, options.timestamp)
        uploads = [upload for upload in uploads if upload.key.startswith(prefix)]
    if options.json:
        await _write(inv, json_document(config.bucket, config.folder, shown, sets, uploads, options.timestamp))
    elif options.timestamp is not None:
        focus = next(backup for backup in sets if backup.timestamp == options.timestamp)
        await _write(inv, set_detail(focus, sets, uploads, url(focus.prefix)))
    else:
        await _write(inv, set_table(sets, uploads, root))


async def expire(inv: Invocation, config: PluginConfig, args: list[str]) -> None:
    """Delete the sets a retention policy selects (never a kept set's base) and stale open uploads.

    :raises ChainRefused: when a kept set depends on a selected one and ``--cascade`` was not given.
    """
    options = parse_expire(args)
    policy, dry_run = options.policy, options.dry_run
    out = FdSink(inv.stdout, "stdout")
    async with inv.stores(config, concurrency=CONFIGS_AT_ONCE, uploads=False) as store:
        catalogue = await _loaded(store, config)
        plan = plan_expiry(catalogue.sets, policy, datetime.now())  # timestamps are the coordinator's local time
        bypass = config.object_lock.bypass_governance
        plan, held = hold_retained(plan, datetime.now(timezone.utc), bypass_governance=bypass)
        doomed_prefixes = tuple(backup.prefix for backup in plan.doomed)  # their uploads go with them
        stale: list[UnfinishedUpload] = []
        if options.unfinished_older_than_hours is not None:
            if catalogue.uploads is None:
                raise AccessDenied(f"unfinished uploads under {store.url(config.folder)} cannot be listed")
            limit = options.unfinished_older_than_hours
            stale = [upload for upload in catalogue.uploads if upload.age_hours is not None
                     and upload.age_hours >= limit and not upload.key.startswith(doomed_prefixes)]  # fmt: skip
        await out.write(bytearray(protected_lines(plan), "utf-8"))
        await out.write(bytearray("".join(h.line(dry_run=dry_run) + "\n" for h in held), "utf-8"))
        aborted = len(stale)
        # Asked once for every set it deletes: the bucket's versioning does not change within one call.
        versioned = await keeps_versions(store, config) if plan.doomed and not dry_run else None
        for backup in plan.doomed:
            block = expiry_block(backup, plan, store.url, dry_run=dry_run)
            own = [upload for upload in catalogue.uploads or [] if upload.key.startswith(backup.prefix)]
            block += "".join(f"  {_upload_line(upload, store.url, dry_run=dry_run)}\n" for upload in own)
            aborted += len(own)
            await out.write(bytearray(block, "utf-8"))
            if not dry_run:  # exactly the objects printed, the set's config first; its open uploads aborted
                listed = [item.key for item in backup.objects]
                await delete_backup_set(store, config, backup.timestamp, listed, versioned=versioned)
        for upload in stale:
            await out.write(bytearray(_upload_line(upload, store.url, dry_run=dry_run) + "\n", "utf-8"))
            if not dry_run:
                await store.abort_multipart_upload(upload.key, upload.upload_id)
    summary = (f"{'expire --dry-run: would delete' if dry_run else 'expire: deleted'} {len(plan.doomed)} sets, "
               f"{plan.objects} objects, {plan.size} bytes; {'would abort' if dry_run else 'aborted'} "
               f"{aborted} unfinished uploads")  # fmt: skip
    if held:
        summary += f"; {'would keep' if dry_run else 'kept'} {len(held)} sets retained by Object Lock"
    log.info("%s", summary)
    await out.write(bytearray(summary + "\n", "utf-8"))
    if held:  # asked to delete what the lock forbids: say so, and fail
        raise retained_error(held)


def _upload_line(upload: UnfinishedUpload, url: Callable[[str], str], *, dry_run: bool) -> str:
    age = f"{upload.age_hours:.1f}" if upload.age_hours is not None else "?"
    return f"{'would abort' if dry_run else 'aborting'} unfinished upload {url(upload.key)} ({age} hours old)"
