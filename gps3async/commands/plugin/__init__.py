"""One coroutine per plugin verb: orchestration of config, keys, pipelines and S3.

Verbs get a validated :class:`~gps3async.core.config.PluginConfig` and their
positional arguments from :mod:`gps3async.cli`; they log one summary line per
transfer and raise :mod:`gps3async.core.errors` exceptions on failure.

``hooks`` holds the setup verbs, ``streams`` the data-stream verbs, ``files``
the file verbs, ``directories`` the directory verbs and ``housekeeping`` the
delete and list verbs; ``transfer`` is what the transferring verbs share (store,
bandwidth share, summary line, encryption keys).
"""

from __future__ import annotations

from .directories import DIRECTORY_PARALLEL, backup_directory, restore_directory
from .files import backup_file, restore_file
from .hooks import setup_plugin_for_backup, setup_plugin_for_restore
from .housekeeping import delete_backup, delete_directory, list_directory
from .streams import backup_data, restore_data, restore_data_subset

__all__ = [
    "DIRECTORY_PARALLEL",
    "backup_data",
    "backup_directory",
    "backup_file",
    "delete_backup",
    "delete_directory",
    "list_directory",
    "restore_data",
    "restore_data_subset",
    "restore_directory",
    "restore_file",
    "setup_plugin_for_backup",
    "setup_plugin_for_restore",
]
