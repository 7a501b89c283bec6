"""What ``list`` and ``expire`` write (pure): a table for people, one JSON document for scripts.

The JSON schema (version 1) is documented in docs/catalogue.md; fields are
only ever added, never renamed or re-typed, without a new ``schema`` number.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..objectlock import format_date
from .sets import COORDINATOR, BackupSet, UnfinishedUpload, dependents, needed_by

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .retention import ExpiryPlan

__all__ = ["SCHEMA", "chain_of", "expiry_block", "json_document", "protected_lines", "set_detail", "set_table"]

SCHEMA = 1
_SHOWN_MISSING = 3


def _yes(value: bool | None) -> str:
    return "?" if value is None else ("yes" if value else "no")


def _date(backup: BackupSet) -> str:
    return backup.date.strftime("%Y-%m-%d %H:%M:%S")


def chain_of(sets: Sequence[BackupSet], timestamp: str) -> list[BackupSet]:
    """The set ``timestamp``, the sets it needs and the sets that need it, oldest first."""
    by_ts = {backup.timestamp: backup for backup in sets}
    focus = by_ts[timestamp]
    wanted = {timestamp, *focus.depends_on, *needed_by(sets, timestamp)}
    return [by_ts[ts] for ts in sorted(wanted) if ts in by_ts]


def _set_json(backup: BackupSet, needed: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "timestamp": backup.timestamp,
        "date": backup.date.isoformat(),
        "database": backup.database or None,
        "type": backup.kind,
        "depends_on": list(backup.depends_on),
        "needed_by": needed.get(backup.timestamp, []),
        "status": backup.status or None,
        "segment_count": backup.segment_count,
        "objects": len(backup.objects),
        "bytes": backup.size,
        "complete": backup.complete,
        "missing": list(backup.missing),
        "encrypted": backup.encrypted,
        "plugin": backup.plugin,
        "config": backup.config.state,
        "prefix": backup.prefix,
        "bytes_per_segment": {str(content): size for content, size in backup.bytes_per_segment().items()},
        "retention": _retention_json(backup),
    }


def _retention_json(backup: BackupSet) -> dict[str, str] | None:
    """The set's Object Lock retention as read (``None``: not read, or the object has none)."""
    lock = backup.retention
    if lock is None or not lock.mode or lock.until is None:
        return None
    return {"mode": lock.mode.upper(), "retain_until": format_date(lock.until)}


def _retained_until(backup: BackupSet) -> str:
    lock = backup.retention
    return format_date(lock.until) if lock is not None and lock.mode and lock.until is not None else "-"


def _upload_json(upload: UnfinishedUpload) -> dict[str, Any]:
    return {
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": upload.initiated.isoformat() if upload.initiated is not None else None,
        "age_hours": round(upload.age_hours, 3) if upload.age_hours is not None else None,
    }


def json_document(
    bucket: str, folder: str, shown: Sequence[BackupSet], sets: Sequence[BackupSet],
    uploads: Sequence[UnfinishedUpload], timestamp: str | None,
) -> str:  # fmt: skip
    """The ``--json`` document of ``shown`` (every set, or one set's chain) and the open uploads."""
    needed = dependents(sets)
    document = {
        "schema": SCHEMA,
        "bucket": bucket,
        "folder": folder,
        "timestamp": timestamp,
        "sets": [_set_json(backup, needed) for backup in shown],
        "unfinished_uploads": [_upload_json(upload) for upload in uploads],
    }
    return json.dumps(document, indent=2) + "\n"


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]


def _missing_line(backup: BackupSet) -> str:
    shown = "; ".join(backup.missing[:_SHOWN_MISSING])
    more = len(backup.missing) - _SHOWN_MISSING
    return f"{backup.timestamp} is incomplete: {shown}" + (f"; and {more} more" if more > 0 else "")


def _uploads_lines(uploads: Sequence[UnfinishedUpload], where: str) -> list[str]:
    if not uploads:
        return [f"no unfinished multipart uploads under {where}"]
    rows = [["AGE(HOURS)", "STARTED", "KEY", "UPLOAD ID"]]
    for upload in uploads:
        age = f"{upload.age_hours:.1f}" if upload.age_hours is not None else "?"
        started = upload.initiated.strftime("%Y-%m-%d %H:%M:%S %Z") if upload.initiated is not None else "?"
        rows.append([age, started, upload.key, upload.upload_id])
    return [f"unfinished multipart uploads under {where}:", *_columns(rows)]


def set_table(sets: Sequence[BackupSet], uploads: Sequence[UnfinishedUpload], where: str) -> str:
    """Every set, one row each, what each incomplete one lacks, then the open uploads and a summary line."""
    lines = []
    if sets:
        rows = [["TIMESTAMP", "DATE", "DATABASE", "TYPE", "STATUS", "SEGMENTS", "OBJECTS", "BYTES", "COMPLETE",
                 "ENCRYPTED", "PLUGIN", "DEPENDS ON"]]  # fmt: skip
        for b in sets:
            rows.append([b.timestamp, _date(b), b.database or "?", b.kind, b.status or "?",
                         "?" if b.segment_count is None else str(b.segment_count), str(len(b.objects)), str(b.size),
                         _yes(b.complete), _yes(b.encrypted), b.plugin, ",".join(b.depends_on) or "-"])  # fmt: skip
        if any(_retention_json(b) for b in sets):  # a column only when Object Lock retains something
            rows[0].append("RETAINED UNTIL")
            for row, b in zip(rows[1:], sets):
                row.append(_retained_until(b))
        lines += _columns(rows)
        lines += [_missing_line(b) for b in sets if b.missing]
    else:
        lines.append(f"no backup sets under {where}")
    lines += _uploads_lines(uploads, where)
    incomplete = sum(1 for b in sets if b.complete is not True)
    lines.append(f"{len(sets)} sets, {sum(len(b.objects) for b in sets)} objects, {sum(b.size for b in sets)} bytes; "
                 f"{incomplete} incomplete or unknown; {len(uploads)} unfinished uploads")  # fmt: skip
    return "".join(line + "\n" for line in lines)


def set_detail(backup: BackupSet, sets: Sequence[BackupSet], uploads: Sequence[UnfinishedUpload], url: str) -> str:
    """One set in full: its fields, its chain, its bytes per segment, what it lacks, its open uploads."""
    by_ts = {b.timestamp: b for b in sets}

    def described(timestamps: Sequence[str]) -> str:
        parts = []
        for ts in timestamps:
            other = by_ts.get(ts)
            parts.append(f"{ts} ({other.kind}, complete: {_yes(other.complete)})" if other else f"{ts} (not in bucket)")
        return ", ".join(parts) or "-"

    rows = [
        ["timestamp", backup.timestamp], ["date", _date(backup)], ["location", url],
        ["database", backup.database or "?"], ["type", backup.kind], ["status", backup.status or "?"],
        ["segments", "?" if backup.segment_count is None else str(backup.segment_count)],
        ["objects", str(len(backup.objects))], ["bytes", str(backup.size)], ["complete", _yes(backup.complete)],
        ["encrypted", _yes(backup.encrypted)], ["plugin", backup.plugin], ["config", backup.config.state],
        ["needs", described(backup.depends_on)], ["needed by", described(needed_by(sets, backup.timestamp))],
    ]  # fmt: skip
    if backup.retention is not None:  # read: the bucket has Object Lock
        rows.append(["retention", backup.retention.describe()])
    lines = [f"{name + ':':<12}{value}" for name, value in rows]
    lines += [f"missing:    {item}" for item in backup.missing]
    lines.append("bytes per segment:")
    for content, size in backup.bytes_per_segment().items():
        lines.append(f"  {'coordinator' if content == COORDINATOR else f'segment {content}':<12}{size}")
    lines += _uploads_lines(uploads, url)
    return "".join(line + "\n" for line in lines)


def expiry_block(backup: BackupSet, plan: ExpiryPlan, url_of: Callable[[str], str], *, dry_run: bool) -> str:
    """The line of one set that goes (a cascaded one marked), then one line per object with its size."""
    verb = "would delete" if dry_run else "deleting"
    why = " (cascade: depends on an expired set)" if backup.timestamp in plan.cascaded else ""
    lines = [f"{verb} set {backup.timestamp} ({backup.kind}, {backup.database or '?'}): "
             f"{len(backup.objects)} objects, {backup.size} bytes{why}"]  # fmt: skip
    lines += [f"  {url_of(item.key)} {item.size}" for item in backup.objects]
    return "".join(line + "\n" for line in lines)


def protected_lines(plan: ExpiryPlan) -> str:
    return "".join(f"keeping set {ts}: the newest complete full backup of its database\n" for ts in plan.protected)
