"""Object keys: how local gpbackup paths and timestamps map onto S3 (pure).

The layout is the Go plugin's, byte for byte, so either plugin restores what
the other wrote: ``<folder>/`` followed by the last four components of the
local path, i.e. ``<folder>/backups/<YYYYMMDD>/<timestamp>/<file>``.
"""

from __future__ import annotations

import re

from .errors import UsageError

__all__ = [
    "backup_file",
    "backup_prefix",
    "content_id",
    "directory_key",
    "folder_prefix",
    "object_key",
    "report_key",
    "scoped_delete_prefix",
    "validate_timestamp",
]

_TIMESTAMP = re.compile(r"^[0-9]{14}$")
#: ``backups/<YYYYMMDD>/<timestamp>/<file>``: where a backup's files lie below the folder.
_BACKUP_FILE = re.compile(r"backups/([0-9]{8})/([0-9]{14})/([^/]+)")


def object_key(folder: str, local_path: str) -> str:
    """The key of a gpbackup file: ``folder`` + the path's last four components.

    :raises UsageError: when the path has fewer than four components, which
        gpbackup never passes (its paths end ``backups/<date>/<ts>/<file>``).
    """
    parts = local_path.split("/")
    if len(parts) < 4 or not parts[-1]:
        raise UsageError(f"{local_path!r} is not a gpbackup path ending .../backups/<date>/<timestamp>/<file>")
    return f"{folder}/" + "/".join(parts[-4:])


def report_key(folder: str, local_backup_dir: str) -> str:
    """The key of ``gpbackup_<ts>_report``, which setup writes to prove write access."""
    timestamp = local_backup_dir.rstrip("/").rsplit("/", 1)[-1]
    return object_key(folder, f"{local_backup_dir.rstrip('/')}/gpbackup_{timestamp}_report")


def validate_timestamp(timestamp: str) -> str:
    """:raises UsageError: unless ``timestamp`` is 14 digits (YYYYMMDDHHMMSS)."""
    if not _TIMESTAMP.match(timestamp):
        raise UsageError(f"a backup timestamp must be 14 digits YYYYMMDDHHMMSS, not {timestamp!r}")
    return timestamp


def backup_file(key: str) -> tuple[str, str] | None:
    """``(timestamp, file name)`` of a key whose last four components are gpbackup's
    ``backups/<YYYYMMDD>/<timestamp>/<file>`` (the date the timestamp's own), or ``None``.

    The inverse of :func:`object_key`: pass a key relative to the folder to
    insist that it lies right below it.
    """
    found = _BACKUP_FILE.fullmatch("/".join(key.split("/")[-4:]))
    if found is None or not found.group(2).startswith(found.group(1)):
        return None
    return found.group(2), found.group(3)


def backup_prefix(folder: str, timestamp: str) -> str:
    """Every object of one backup lies under this prefix (note the closing slash)."""
    validate_timestamp(timestamp)
    return f"{folder}/backups/{timestamp[:8]}/{timestamp}/"


def content_id(raw: str) -> int:
    """A segment content id as gpbackup (``-1``) or the test bench (``"-1"``) passes it.

    :raises UsageError: when it is not an integer.
    """
    text = raw.strip().strip('"').strip("'")
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"content id must be an integer such as -1 or 0, not {raw!r}") from None


def directory_key(local_path: str) -> str:
    """The key of a file moved by the ``*_directory`` verbs: its path without the leading slash.

    The Go plugin passes the path itself as the key, and its AWS SDK cleans the
    request path, which drops the leading slash; S3-compatible servers such as
    rclone refuse keys that start with one.
    """
    return local_path.lstrip("/")


def folder_prefix(folder: str) -> str:
    """Every object of the configured folder lies under this prefix (the folder and one slash)."""
    return folder.rstrip("/") + "/"


def scoped_delete_prefix(folder: str, prefix: str) -> str:
    """The prefix ``delete_directory`` may delete under, or a refusal.

    A prefix is a plain string match in S3, so ``""`` or ``/`` would delete the
    whole bucket and ``prod/cluster1`` would also match ``prod/cluster10/``.
    Only prefixes inside the configured folder are allowed; the folder itself
    becomes ``<folder>/`` so a sibling folder sharing its name's start is spared.

    :raises UsageError: for an empty prefix, ``/``, a ``..`` component, or a
        prefix outside ``folder``.
    """
    root = folder_prefix(folder)
    if not prefix.strip("/"):
        raise UsageError(f"refusing to delete {prefix!r}: that is the whole bucket; give a prefix inside {root}")
    if ".." in prefix.split("/"):
        raise UsageError(f"refusing to delete {prefix!r}: '..' is not allowed in a prefix")
    if prefix == root.rstrip("/"):
        return root
    if not prefix.startswith(root):
        raise UsageError(f"refusing to delete {prefix!r}: it is outside the configured folder {root}")
    return prefix
