"""The upload journal's records and the sweep's decisions: pure, no file, process or S3 access.

Each process that opens a multipart upload writes one small record for it
(:mod:`gps3async.runtime.journal` does the I/O) and removes it once the upload is
completed or aborted.  A record left behind belongs to a process that died
mid-upload (SIGKILL, the OOM killer, a host crash): the next agent on the host
aborts the upload and removes the record (:mod:`gps3async.s3.sweep`).

A record names its owner by host, boot, pid and the pid's start time (field 22
of ``/proc/PID/stat``), so a pid reused by another process after the owner died
is not mistaken for the owner, and it names the store by endpoint and bucket,
so a sweeping agent only touches uploads its own client reaches.  It holds no
credential: the sweeping agent uses its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from hashlib import blake2b
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "FORMAT",
    "LIVE",
    "ORPHANED",
    "OTHER_HOST",
    "Owner",
    "RecordError",
    "SweepPlan",
    "UploadRecord",
    "decode",
    "encode",
    "judge",
    "pid_of_name",
    "plan_sweep",
    "public_endpoint",
    "record_name",
    "split_by_store",
    "start_time",
]

#: The record format's version; a record of a newer one is left for the plugin that wrote it.
FORMAT = 1
#: Every record's file name ends so; anything else in the directory (a half-written temporary) is not a record.
SUFFIX = ".upload"

#: The owner still runs: its record is never touched.
LIVE = "live"
#: The owner is gone: its upload is aborted and its record removed.
ORPHANED = "orphaned"
#: Written on another host (a shared directory) or in another pid namespace (a container): not judged here.
OTHER_HOST = "other host"


class RecordError(ValueError):
    """A file in the journal that is not a record this version can read."""


@dataclass(frozen=True)
class Owner:
    """A process: its host, the boot it runs in, its pid and that pid's start time ("" when unknown), and the
    pid namespace its pid is counted in (``pid:[4026531836]``; "" when unknown): a container has its own."""

    host: str
    boot_id: str
    pid: int
    start: str
    pid_namespace: str = ""


@dataclass(frozen=True)
class UploadRecord:
    """One multipart upload a process opened and has neither completed nor aborted (yet)."""

    endpoint: str
    bucket: str
    key: str
    upload_id: str
    #: When the upload was opened, ISO 8601 in UTC.
    started: str
    owner: Owner
    #: The agent's identity digest (:mod:`gps3async.agent.place`), or ``in-process``: for the operator's eye.
    identity: str


def public_endpoint(url: str) -> str:
    """``url`` without user information or a trailing slash: what a record may say about the store."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=host)).rstrip("/")


def encode(record: UploadRecord) -> bytes:
    """One line of JSON: readable by ``cat`` and by the next agent."""
    owner = record.owner
    fields = {
        "format": FORMAT, "endpoint": record.endpoint, "bucket": record.bucket, "key": record.key,
        "upload_id": record.upload_id, "started": record.started, "host": owner.host, "boot_id": owner.boot_id,
        "pid": owner.pid, "pid_start": owner.start, "pid_namespace": owner.pid_namespace,
        "identity": record.identity,
    }  # fmt: skip
    return (json.dumps(fields, sort_keys=True) + "\n").encode("utf-8")


def decode(data: bytes) -> UploadRecord:
    """:raises RecordError: when ``data`` is not a whole record of this format."""
    try:
        fields = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RecordError("not a JSON record") from None
    if not isinstance(fields, dict):
        raise RecordError("not a JSON object")
    if fields.get("format") != FORMAT:
        raise RecordError(f"format {fields.get('format')!r}, not {FORMAT}")
    texts = ("endpoint", "bucket", "key", "upload_id", "started", "host", "boot_id", "pid_start", "pid_namespace",
             "identity")  # fmt: skip
    for name in texts:
        if not isinstance(fields.get(name), str):
            raise RecordError(f"{name} missing or not text")
    pid = fields.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        raise RecordError("pid missing or not a positive number")
    if not fields["upload_id"] or not fields["bucket"] or not fields["key"]:
        raise RecordError("empty upload id, bucket or key")
    owner = Owner(fields["host"], fields["boot_id"], pid, fields["pid_start"], fields["pid_namespace"])
    return UploadRecord(
        fields["endpoint"], fields["bucket"], fields["key"], fields["upload_id"], fields["started"], owner,
        fields["identity"],
    )  # fmt: skip


def record_name(pid: int, endpoint: str, bucket: str, upload_id: str) -> str:
    """The record's file name: its owner's pid (for people and for ``ls``), then a digest of what it names."""
    material = "\0".join((endpoint, bucket, upload_id)).encode("utf-8", "surrogateescape")
    return f"{pid}-{blake2b(material, digest_size=12).hexdigest()}{SUFFIX}"


def pid_of_name(name: str) -> int | None:
    """The owner's pid from a record's file name; ``None`` for a name that is not a record's."""
    if not name.endswith(SUFFIX) or name.startswith("."):
        return None
    head = name.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def start_time(stat_text: str) -> str:
    """A process's start time (clock ticks after boot) from the text of its ``/proc/PID/stat``.

    The command name in parentheses may itself hold spaces and parentheses, so
    the fields are counted after the last ``)``: the start time is field 22,
    the 20th after it.

    :raises RecordError: for text that is not such a line.
    """
    _, paren, rest = stat_text.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) < 20 or not fields[19].isdigit():
        raise RecordError("not a /proc/PID/stat line")
    return fields[19]


def judge(record: UploadRecord, here: Owner, running_start: str | None) -> str:
    """:data:`LIVE`, :data:`ORPHANED` or :data:`OTHER_HOST` for ``record``, judged on host ``here``.

    ``running_start`` is the start time of the process that now has the
    record's pid on this host (``""`` when it cannot be read), ``None`` when no
    process has it.  The owner is gone when the host was rebooted since, when
    nothing runs under its pid, or when what runs there started at another
    time (the pid was reused).  A start time unknown on either side with the
    pid running counts as alive: a record is only ever touched for certain.
    A pid of another pid namespace says nothing about this one's processes.
    """
    owner = record.owner
    if owner.host != here.host:
        return OTHER_HOST
    if owner.pid_namespace and here.pid_namespace and owner.pid_namespace != here.pid_namespace:
        return OTHER_HOST
    if owner.boot_id and here.boot_id and owner.boot_id != here.boot_id:
        return ORPHANED
    if running_start is None:
        return ORPHANED
    if owner.start and running_start and owner.start != running_start:
        return ORPHANED
    return LIVE


@dataclass
class SweepPlan:
    """What a sweep does with each file of the journal (file paths, with their records)."""

    #: Records of processes that are gone: their uploads are aborted (by an agent whose store they are on).
    orphaned: list[tuple[str, UploadRecord]] = field(default_factory=list)
    #: Records of processes that still run, and of other hosts: never touched.
    live: int = 0
    other_host: int = 0
    #: Files that are no record this version reads: left as they are.
    unreadable: list[str] = field(default_factory=list)


def plan_sweep(
    entries: Iterable[tuple[str, UploadRecord | None]], here: Owner, running: Mapping[int, str | None]
) -> SweepPlan:
    """Sort the journal's ``entries`` (path, record or ``None`` when unreadable) on host ``here``.

    ``running`` maps each record's pid to :func:`judge`'s ``running_start``; a
    pid it lacks counts as running: only what was looked up and found gone is touched.
    """
    plan = SweepPlan()
    for path, record in entries:
        if record is None:
            plan.unreadable.append(path)
            continue
        verdict = judge(record, here, running.get(record.owner.pid, ""))
        if verdict == OTHER_HOST:
            plan.other_host += 1
        elif verdict == LIVE:
            plan.live += 1
        else:
            plan.orphaned.append((path, record))
    return plan


def split_by_store(
    orphaned: Iterable[tuple[str, UploadRecord]], endpoint: str, bucket: str
) -> tuple[list[tuple[str, UploadRecord]], list[tuple[str, UploadRecord]]]:
    """The orphaned uploads on ``endpoint`` and ``bucket`` (this agent aborts them with its own credentials),
    and the others (left for an agent that uses their store)."""
    mine = [(path, record) for path, record in orphaned if (record.endpoint, record.bucket) == (endpoint, bucket)]
    others = [(path, record) for path, record in orphaned if (record.endpoint, record.bucket) != (endpoint, bucket)]
    return mine, others
