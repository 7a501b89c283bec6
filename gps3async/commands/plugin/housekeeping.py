"""Deleting a backup or a directory (with the backup's unfinished uploads) and listing a directory.

In a bucket that keeps versions the deletes go by version id (:mod:`.versions`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...core import keys
from ...core.errors import AccessDenied
from ...transfer.stdio import FdSink
from .transfer import _backup_store, _restore_store, _url
from .versions import delete_versions_under, keeps_versions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...core.config import PluginConfig
    from ...s3.storage import S3Store
    from ..invocation import Invocation

log = logging.getLogger("gps3async")


async def _delete_prefix(store: S3Store, config: PluginConfig, prefix: str, what: str) -> int:
    if await keeps_versions(store, config):
        return await delete_versions_under(store, config, prefix, what)
    doomed = [item.key async for item in store.list_objects(prefix)]
    await store.delete_objects(doomed)
    log.info("deleted %d objects under %s", len(doomed), _url(config, prefix))
    return len(doomed)


async def delete_backup(inv: Invocation, config: PluginConfig, timestamp: str) -> None:
    """Delete every object of backup ``timestamp`` and nothing else, and abort its unfinished uploads."""
    async with _backup_store(inv, config, uploads=False) as store:
        await delete_backup_set(store, config, timestamp)


async def _abort_uploads(store: S3Store, config: PluginConfig, prefix: str) -> None:
    try:
        uploads = await store.list_uploads(prefix)
    except AccessDenied as err:  # the objects can still go; say what is left
        log.warning("%s; unfinished uploads under %s are not aborted", err, _url(config, prefix))
        uploads = []
    for upload in uploads:
        await store.abort_multipart_upload(upload.key, upload.upload_id)
        where = _url(config, upload.key)
        log.info("aborted unfinished multipart upload of %s (started %s)", where, upload.initiated)


async def delete_backup_set(
    store: S3Store,
    config: PluginConfig,
    timestamp: str,
    listed: Sequence[str] | None = None,
    *,
    versioned: bool | None = None,
) -> int:
    """Delete backup ``timestamp``'s objects (``listed``, or all those under its prefix); return how many.

    Its config file goes first: a deletion stopped half way leaves a set
    without a config, which ``list`` reports as incomplete, never a set that
    looks whole.  An upload left open by a backup that died (killed host,
    lost network) is invisible to listings but billed; it belongs to the
    backup being deleted and is aborted.  In a bucket that keeps versions
    every version goes, by version id, in the same order; ``versioned`` is
    whether it does, when the caller already asked (``None``: ask the store).
    """
    prefix = keys.backup_prefix(config.folder, timestamp)
    config_key = prefix + f"gpbackup_{timestamp}_config.yaml"
    what = f"delete_backup {timestamp}"
    if versioned is None:
        versioned = await keeps_versions(store, config)
    if versioned:
        # One pass over every version, the config's first, so a refusal names every retained version at once.
        await _abort_uploads(store, config, prefix)
        return await delete_versions_under(store, config, prefix, what, first=config_key)
    if listed is None:
        listed = [item.key async for item in store.list_objects(prefix)]
    doomed = [key for key in listed if key.startswith(prefix)]  # never a key outside the set
    first = [key for key in doomed if key.startswith(config_key)]
    await store.delete_objects(first)
    await _abort_uploads(store, config, prefix)
    await store.delete_objects([key for key in doomed if key not in first])
    log.info("deleted %d objects under %s", len(doomed), _url(config, prefix))
    return len(doomed)


async def delete_directory(inv: Invocation, config: PluginConfig, prefix: str) -> None:
    """Delete every object under ``prefix``, which must lie inside the configured folder."""
    scoped = keys.scoped_delete_prefix(config.folder, prefix)
    async with _backup_store(inv, config, uploads=False) as store:
        await _delete_prefix(store, config, scoped, f"delete_directory {scoped}")


async def list_directory(inv: Invocation, config: PluginConfig, prefix: str | None) -> None:
    """Write a two-column table (key, size in bytes) of every object under ``prefix`` to stdout."""
    async with _restore_store(inv, config) as store:
        rows = [(item.key, str(item.size)) async for item in store.list_objects(prefix or config.folder)]
    rows = [row for row in rows if not row[0].endswith("/")]
    width = max([len("NAME"), *(len(name) for name, _ in rows)])
    lines = [f"{'NAME':<{width}}  SIZE(bytes)\n", *(f"{name:<{width}}  {size}\n" for name, size in rows)]
    await FdSink(inv.stdout, "stdout").write(bytearray("".join(lines), "utf-8"))
