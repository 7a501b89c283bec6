"""Backup sets from the folder's listing and each set's config file (pure).

A set is every object under ``<folder>/backups/<YYYYMMDD>/<timestamp>/``.
Its config (``gpbackup_<TS>_config.yaml``, which gpbackup writes when the
backup ends) says its database, type, status, segment count and restore plan;
the listing says what is there.  Complete means every file gprestore opens is
listed, worked out from the listing alone (verify's shallow pass reads the
TOC too): the coordinator's files (:func:`~gps3async.core.verify.expect.coordinator_files`),
with ``--single-data-file`` every segment's data file and TOC, per table
every segment's file of every table seen on any segment (``COPY ... ON
SEGMENT`` writes one per segment), and every earlier set of the restore
plan, itself complete.  A table whose files are all gone is only found by
``verify``, which reads the TOC.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..integrity.checksums import DIGEST_SUFFIX
from ..keys import backup_file
from ..verify.expect import BackupSetConfig, coordinator_files, file_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .locks import Retention

__all__ = [
    "COORDINATOR",
    "BackupSet",
    "ConfigRead",
    "Listed",
    "UnfinishedUpload",
    "build_sets",
    "config_name",
    "dependents",
    "group_by_set",
    "needed_by",
    "unfinished_upload",
]

COORDINATOR = -1
#: Who wrote a set: this plugin (its digest record on the config, or encryption), the Go plugin (a config
#: without one), or unknown (no readable config).
GPS3ASYNC, GO_PLUGIN, UNKNOWN = "gps3async", "go", "unknown"
FULL, INCREMENTAL, DATA_ONLY, METADATA_ONLY = "full", "incremental", "data-only", "metadata-only"
#: What became of the set's config file: read, not there, encrypted with no key configured, or not gpbackup's.
READ, MISSING, SEALED, UNREADABLE = "read", "missing", "encrypted", "unreadable"
_SEGMENT_FILE = re.compile(r"^gpbackup_([0-9]+)_([0-9]{14})(?:_([0-9]+))?(\.gz|\.zst)?$")
_SEGMENT_TOC = re.compile(r"^gpbackup_([0-9]+)_([0-9]{14})_toc\.yaml$")


@dataclass(frozen=True)
class Listed:
    """One listed object."""

    key: str
    size: int


@dataclass(frozen=True)
class ConfigRead:
    """What the one read of a set's config file told."""

    state: str
    config: BackupSetConfig | None = None
    database: str = ""
    encrypted: bool = False
    #: The config object carries this plugin's digest record (in its metadata or a companion).
    recorded: bool = False
    #: Why a config that is there could not be used.
    problem: str = ""


@dataclass(frozen=True)
class BackupSet:
    """One backup set as the bucket holds it."""

    timestamp: str
    prefix: str
    config: ConfigRead
    objects: tuple[Listed, ...]
    #: Why the set is not restorable (missing files, a failed status, an incomplete base); empty when complete.
    missing: tuple[str, ...] = ()
    plugin: str = UNKNOWN
    #: Its Object Lock retention (of its config file, else its first object); ``None`` when not read.
    retention: Retention | None = None

    @property
    def date(self) -> datetime:
        """When gpbackup started it, in the coordinator's local time (the timestamp is all the bucket keeps)."""
        return datetime.strptime(self.timestamp, "%Y%m%d%H%M%S")

    @property
    def database(self) -> str:
        return self.config.database

    @property
    def kind(self) -> str:
        config = self.config.config
        if config is None:
            return UNKNOWN
        if config.metadata_only:
            return METADATA_ONLY
        if config.incremental:
            return INCREMENTAL
        return DATA_ONLY if config.data_only else FULL

    @property
    def depends_on(self) -> tuple[str, ...]:
        """The earlier sets its restore plan takes data from, oldest first."""
        config = self.config.config
        if config is None:
            return ()
        return tuple(sorted({entry.timestamp for entry in config.restore_plan} - {self.timestamp}))

    @property
    def status(self) -> str:
        return self.config.config.status if self.config.config is not None else ""

    @property
    def segment_count(self) -> int | None:
        return self.config.config.segment_count if self.config.config is not None else None

    @property
    def complete(self) -> bool | None:
        """Whether gprestore finds every file it opens; ``None`` when that cannot be known (config sealed)."""
        if self.config.state == SEALED:
            return None
        return not self.missing

    @property
    def size(self) -> int:
        return sum(item.size for item in self.objects)

    @property
    def encrypted(self) -> bool:
        return self.config.encrypted

    def bytes_per_segment(self) -> dict[int, int]:
        """Bytes by segment content (``-1``: the coordinator's files), a digest companion with its object."""
        sizes: dict[int, int] = defaultdict(int)
        for item in self.objects:
            sizes[_content(item.key[len(self.prefix) :])] += item.size
        return dict(sorted(sizes.items()))


@dataclass(frozen=True)
class UnfinishedUpload:
    """A multipart upload started and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: datetime | None
    age_hours: float | None = field(default=None)


def config_name(timestamp: str) -> str:
    return file_name(timestamp, "config.yaml")


def _content(name: str) -> int:
    name = name[: -len(DIGEST_SUFFIX)] if name.endswith(DIGEST_SUFFIX) else name
    found = _SEGMENT_FILE.match(name) or _SEGMENT_TOC.match(name)
    return int(found.group(1)) if found else COORDINATOR


def group_by_set(folder: str, listing: Iterable[Listed]) -> dict[str, list[Listed]]:
    """The listed objects of each backup set, by timestamp; objects elsewhere in the folder are not a set's."""
    root = folder.rstrip("/") + "/"
    groups: dict[str, list[Listed]] = defaultdict(list)
    for item in listing:
        relative = item.key[len(root) :] if item.key.startswith(root) else ""
        found = backup_file(relative) if relative.count("/") == 3 else None  # right below the folder only
        if found is not None:
            groups[found[0]].append(item)
    return dict(groups)


def _own_missing(timestamp: str, read: ConfigRead, names: set[str]) -> list[str]:
    """What this set lacks by itself (its bases aside)."""
    if read.state == MISSING:
        return [f"{config_name(timestamp)} (gpbackup did not finish, or the set is being deleted)"]
    if read.state == UNREADABLE:
        return [f"{config_name(timestamp)} cannot be read: {read.problem}"]
    config = read.config
    if config is None:
        return []  # sealed: what it lacks cannot be known without the key
    if config.timestamp != timestamp:  # a config copied from another set: its file list says nothing of this one
        return [f"the config names backup {config.timestamp}"]
    missing = []
    if config.status not in ("", "Success"):
        missing.append(f"gpbackup recorded status {config.status!r}")
    missing += [item.name for item in coordinator_files(config) if item.name not in names]
    return missing + _missing_data(timestamp, config, names)


def _missing_data(timestamp: str, config: BackupSetConfig, names: set[str]) -> list[str]:
    if config.metadata_only:
        return []
    ext, segments = config.extension, range(config.segment_count)
    files = [_SEGMENT_FILE.match(name) for name in names]
    if config.single_data_file:
        if not any(found and found.group(3) is None for found in files) and not any(map(_SEGMENT_TOC.match, names)):
            return []  # no table data at all
        wanted = [f"gpbackup_{c}_{timestamp}{ext}" for c in segments]
        wanted += [f"gpbackup_{c}_{timestamp}_toc.yaml" for c in segments]
    else:
        oids = sorted({int(found.group(3)) for found in files if found and found.group(3) is not None})
        wanted = [f"gpbackup_{c}_{timestamp}_{oid}{ext}" for oid in oids for c in segments]
    return [name for name in wanted if name not in names]


def _writer(read: ConfigRead, names: set[str]) -> str:
    if read.recorded or read.encrypted:
        return GPS3ASYNC
    if read.state == READ:
        return GO_PLUGIN
    return GPS3ASYNC if any(name.endswith(DIGEST_SUFFIX) for name in names) else UNKNOWN


def build_sets(folder: str, listing: Iterable[Listed], configs: Mapping[str, ConfigRead]) -> list[BackupSet]:
    """Every backup set of the listing, oldest first; ``configs`` holds each set's config read (absent: missing)."""
    groups = group_by_set(folder, listing)
    root = folder.rstrip("/") + "/"
    own: dict[str, list[str]] = {}
    sets: dict[str, BackupSet] = {}
    for timestamp in sorted(groups):
        prefix = f"{root}backups/{timestamp[:8]}/{timestamp}/"
        objects = tuple(sorted(groups[timestamp], key=lambda item: item.key))
        names = {item.key[len(prefix) :] for item in objects}
        read = configs.get(timestamp) or ConfigRead(MISSING)
        own[timestamp] = _own_missing(timestamp, read, names)
        sets[timestamp] = BackupSet(timestamp, prefix, read, objects, plugin=_writer(read, names))
    built = []
    for timestamp, backup in sets.items():
        missing = list(own[timestamp])
        for base in backup.depends_on:
            if base not in sets:
                missing.append(f"its base {base} is not in the bucket")
            elif own[base] or sets[base].config.state == SEALED:
                missing.append(f"its base {base} is incomplete")
        built.append(BackupSet(timestamp, backup.prefix, backup.config, backup.objects, tuple(missing), backup.plugin))
    return built


def needed_by(sets: Iterable[BackupSet], timestamp: str) -> list[str]:
    """The sets whose restore plan takes data from ``timestamp``."""
    return [backup.timestamp for backup in sets if timestamp in backup.depends_on]


def dependents(sets: Iterable[BackupSet]) -> dict[str, list[str]]:
    """:func:`needed_by` of every set at once (oldest first), for a listing of thousands."""
    found: dict[str, list[str]] = defaultdict(list)
    for backup in sets:
        for base in backup.depends_on:
            found[base].append(backup.timestamp)
    return {base: sorted(timestamps) for base, timestamps in found.items()}


def unfinished_upload(key: str, upload_id: str, initiated: str, now: datetime) -> UnfinishedUpload:
    """An open upload as listed (``initiated`` as the S3 client printed it; ``now`` aware, in UTC)."""
    try:
        started: datetime | None = datetime.fromisoformat(initiated.replace("Z", "+00:00"))
    except ValueError:
        started = None
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    age = (now - started).total_seconds() / 3600 if started is not None else None
    return UnfinishedUpload(key, upload_id, started, age)
