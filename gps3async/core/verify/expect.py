"""What a gpbackup backup set must contain, read from its own config and TOC files (pure).

gprestore with a plugin opens, in this order (restore/wrappers.go
``RecoverMetadataFilesUsingPlugin``, restore/data.go): the coordinator's
``config.yaml``, ``metadata.sql`` and ``report`` (always, even for
``--data-only`` backups: gpbackup writes the session GUCs into the metadata
file whatever the flags, and gprestore reads them from it before any data),
``statistics.sql`` when the backup was taken ``--with-stats``, then for every
timestamp of the backup's restore plan that timestamp's ``toc.yaml`` and, with
``--single-data-file``, every segment's ``gpbackup_<content>_<ts>_toc.yaml``;
then the data files of the tables it restores.  gpbackup also stores
``plugin_config.yaml`` with every plugin backup, which an incremental backup
based on this one restores; it is required too.

Data files, unless the backup is metadata-only: with ``--single-data-file``
one ``gpbackup_<content>_<ts>[.gz|.zst]`` per segment content
``0..segmentcount-1``; otherwise one ``gpbackup_<content>_<ts>_<oid>[ext]``
per data entry of the TOC per segment.  Replicated tables are no different:
``COPY ... ON SEGMENT`` writes a file on every segment and a restore to a
cluster of the same size opens every one of them.  An incremental backup's
restore plan names, per earlier timestamp, the tables whose data lives there;
gprestore finds them in that timestamp's TOC and opens that timestamp's data
files with this backup's compression, so they are required too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

__all__ = [
    "BackupSetConfig",
    "DataEntry",
    "Expected",
    "RestorePlanEntry",
    "SetPlan",
    "UnreadableFile",
    "coordinator_files",
    "data_files",
    "file_name",
    "parse_backup_config",
    "parse_config_document",
    "parse_toc",
    "plan_files",
]


class UnreadableFile(ValueError):
    """A config or TOC file that is not what gpbackup writes; ``str()`` says why."""


@dataclass(frozen=True)
class RestorePlanEntry:
    timestamp: str
    table_fqns: tuple[str, ...]


@dataclass(frozen=True)
class BackupSetConfig:
    """The fields of gpbackup's ``BackupConfig`` (history/history.go) that decide which files exist."""

    timestamp: str
    single_data_file: bool
    compressed: bool
    compression_type: str
    segment_count: int
    data_only: bool
    metadata_only: bool
    with_statistics: bool
    incremental: bool
    restore_plan: tuple[RestorePlanEntry, ...]
    status: str

    @property
    def extension(self) -> str:
        """The data files' suffix (utils/compression.go); backups before zstd support left the type empty."""
        if not self.compressed:
            return ""
        return ".zst" if self.compression_type == "zstd" else ".gz"


@dataclass(frozen=True)
class DataEntry:
    """One table whose data a TOC lists (``toc.CoordinatorDataEntry``)."""

    schema: str
    name: str
    oid: int
    is_replicated: bool = False

    @property
    def fqn(self) -> str:
        """As gpbackup's ``utils.MakeFQN`` spells it, which restore plans use."""
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Expected:
    """A file a restore of the backup set opens: where, what it is, whether it is table data."""

    timestamp: str
    name: str
    role: str
    data: bool = False


def file_name(timestamp: str, suffix: str) -> str:
    return f"gpbackup_{timestamp}_{suffix}"


#: libyaml's safe loader when PyYAML was built with it: about 7 times faster than the pure-Python one
#: (``list`` parses one config per backup set in the folder).
_FAST_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _document(text: str, what: str) -> dict[str, Any]:
    try:
        document = yaml.load(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        document = None  # parsed again below: the pure-Python parser says where, as verify always said
    if document is None:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise UnreadableFile(f"{what} is not valid YAML{where}") from None
    if not isinstance(document, dict):
        raise UnreadableFile(f"{what} is not a YAML mapping")
    return document


def _flag(document: dict[str, Any], name: str) -> bool:
    value = document.get(name, False)
    if isinstance(value, bool):
        return value
    raise UnreadableFile(f"config field {name} is {value!r}, not true or false")


def parse_backup_config(text: str) -> BackupSetConfig:
    """:raises UnreadableFile: when ``text`` is not a gpbackup config file."""
    return parse_config_document(text)[0]


def parse_config_document(text: str) -> tuple[BackupSetConfig, dict[str, Any]]:
    """The config's fields that decide which files exist, and its whole mapping (database name, plugin...).

    :raises UnreadableFile: when ``text`` is not a gpbackup config file.
    """
    document = _document(text, "the config file")
    timestamp = str(document.get("timestamp", ""))
    if len(timestamp) != 14 or not timestamp.isdigit():
        raise UnreadableFile(f"the config file's timestamp is {document.get('timestamp')!r}, not 14 digits")
    count = document.get("segmentcount", 0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise UnreadableFile(f"config field segmentcount is {count!r}, not a number of segments")
    plan = []
    for raw in document.get("restoreplan") or []:
        if not isinstance(raw, dict) or not str(raw.get("timestamp", "")).isdigit():
            raise UnreadableFile(f"a restoreplan entry is {raw!r}, not {{timestamp, tablefqns}}")
        plan.append(RestorePlanEntry(str(raw["timestamp"]), tuple(str(fqn) for fqn in raw.get("tablefqns") or [])))
    return BackupSetConfig(
        timestamp=timestamp, single_data_file=_flag(document, "singledatafile"),
        compressed=_flag(document, "compressed"), compression_type=str(document.get("compressiontype") or ""),
        segment_count=count, data_only=_flag(document, "dataonly"), metadata_only=_flag(document, "metadataonly"),
        with_statistics=_flag(document, "withstatistics"), incremental=_flag(document, "incremental"),
        restore_plan=tuple(plan), status=str(document.get("status") or ""),
    ), document  # fmt: skip


def parse_toc(text: str) -> list[DataEntry]:
    """The ``dataentries`` of a coordinator TOC.

    :raises UnreadableFile: when ``text`` is not a gpbackup TOC.
    """
    document = _document(text, "the TOC file")
    entries = []
    for raw in document.get("dataentries") or []:
        if not isinstance(raw, dict) or not isinstance(raw.get("oid"), int):
            raise UnreadableFile(f"a TOC data entry is {raw!r}, not {{schema, name, oid, ...}}")
        entries.append(
            DataEntry(str(raw.get("schema", "")), str(raw.get("name", "")), raw["oid"], raw.get("isreplicated") is True)
        )
    return entries


def coordinator_files(config: BackupSetConfig) -> list[Expected]:
    """The coordinator's files of this backup (its config and TOC included)."""
    ts = config.timestamp
    wanted = [
        Expected(ts, file_name(ts, "config.yaml"), "config"),
        Expected(ts, file_name(ts, "toc.yaml"), "TOC"),
        Expected(ts, file_name(ts, "metadata.sql"), "metadata"),
        Expected(ts, file_name(ts, "report"), "report"),
        Expected(ts, file_name(ts, "plugin_config.yaml"), "plugin config"),
    ]
    if config.with_statistics:
        wanted.append(Expected(ts, file_name(ts, "statistics.sql"), "statistics"))
    return wanted


def data_files(
    config: BackupSetConfig, timestamp: str, entries: list[DataEntry], fqns: tuple[str, ...] | None = None
) -> list[Expected]:
    """The data files (and segment TOCs) a restore opens under ``timestamp``.

    ``config`` is the backup being verified (its segment count, layout and
    compression apply to every timestamp of its plan); ``entries`` the data
    entries of ``timestamp``'s TOC; ``fqns`` the tables the plan restores from
    there (``None``: every entry).
    """
    if config.metadata_only:
        return []
    chosen = entries if fqns is None else [entry for entry in entries if entry.fqn in set(fqns)]
    if not chosen:
        return []
    segments = range(config.segment_count)
    ext = config.extension
    if config.single_data_file:
        wanted = []
        for content in segments:
            wanted.append(Expected(timestamp, f"gpbackup_{content}_{timestamp}_toc.yaml", f"segment {content} TOC"))
            wanted.append(Expected(timestamp, f"gpbackup_{content}_{timestamp}{ext}", f"segment {content} data", True))
        return wanted
    return [
        Expected(timestamp, f"gpbackup_{content}_{timestamp}_{entry.oid}{ext}",
                 f"segment {content} data of {entry.fqn}" + (" (replicated)" if entry.is_replicated else ""), True)
        for entry in chosen
        for content in segments
    ]  # fmt: skip


@dataclass(frozen=True)
class SetPlan:
    """What a restore of a backup set opens, and what could not be worked out."""

    wanted: tuple[Expected, ...]
    #: Earlier timestamps of the restore plan whose TOC could not be read.
    unread: tuple[str, ...]
    #: ``(timestamp, fqn)`` of tables the restore plan takes from a TOC that does not list them.
    unmatched: tuple[tuple[str, str], ...]


def plan_files(config: BackupSetConfig, tocs: dict[str, list[DataEntry]]) -> SetPlan:
    """Every file a restore of ``config``'s backup opens.

    ``tocs`` maps timestamps to their TOC's data entries (this backup's own
    always, earlier ones of the restore plan when they could be read).  Its
    own data files are those of its TOC (gpbackup lists there exactly the
    tables it copied); an earlier timestamp's are those of the tables the plan
    takes from it.
    """
    wanted = coordinator_files(config)
    unread: list[str] = []
    unmatched: list[tuple[str, str]] = []
    wanted += data_files(config, config.timestamp, tocs.get(config.timestamp, []))
    for entry in config.restore_plan:
        if entry.timestamp == config.timestamp:
            continue
        wanted.append(Expected(entry.timestamp, file_name(entry.timestamp, "toc.yaml"), "TOC of an incremental base"))
        if entry.timestamp not in tocs:
            unread.append(entry.timestamp)
            continue
        listed = {data.fqn for data in tocs[entry.timestamp]}
        unmatched += [(entry.timestamp, fqn) for fqn in entry.table_fqns if fqn not in listed]
        wanted += data_files(config, entry.timestamp, tocs[entry.timestamp], entry.table_fqns)
    return SetPlan(tuple(wanted), tuple(unread), tuple(unmatched))
