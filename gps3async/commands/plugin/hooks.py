"""The setup hooks gpbackup and gprestore call once per scope: prove write or read access before data moves."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...core import keys
from ...core.encryption.format import object_name
from ...transfer.encryption.streams import sealing_source
from ...transfer.upload import upload_stream
from .transfer import _backup_store, _keyring, _restore_store, _url

if TYPE_CHECKING:
    from ...core.config import PluginConfig
    from ..invocation import Invocation

log = logging.getLogger("gps3async")


_WRITE_SCOPES = ("coordinator", "master", "segment_host")


class _NoBytes:
    """An empty :class:`~gps3async.transfer.upload.ByteSource` (the placeholder report, encrypted like the rest)."""

    async def readinto(self, buf: bytearray) -> int:
        return 0


async def setup_plugin_for_backup(inv: Invocation, config: PluginConfig, local_dir: str, scope: str) -> None:
    """Prove write access by writing the backup's (still empty) report object."""
    if scope not in _WRITE_SCOPES:
        return
    key = keys.report_key(config.folder, local_dir)
    keyring = _keyring(config)
    async with _backup_store(inv, config) as store:
        if keyring is None:
            await store.put_object(key, b"", metadata={})
        else:
            source = sealing_source(_NoBytes(), keyring, object_name(config.folder, key), store.url(key))
            await upload_stream(store, key, source, chunksize=config.backup_chunksize, concurrency=1)
    log.info("setup_plugin_for_backup %s: write access confirmed with %s", scope, _url(config, key))


async def setup_plugin_for_restore(inv: Invocation, config: PluginConfig, local_dir: str, scope: str) -> None:
    """Prove the bucket exists and the folder can be read."""
    if scope not in _WRITE_SCOPES:
        return
    _keyring(config)  # a key file that cannot be used fails the restore here, before any data moves
    async with _restore_store(inv, config) as store:
        await store.probe_read(f"{config.folder}/")
    log.info("setup_plugin_for_restore %s: read access confirmed for %s", scope, _url(config, config.folder))
