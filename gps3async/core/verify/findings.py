"""What ``verify`` found, object by object, and how it is worded (pure).

Every object of a backup set ends in one of three states: *checked* (its
recorded size matches the listing, and with ``--deep`` every byte matched its
recorded CRC-32C), *unchecked* (nothing was recorded to check it against, as
for objects the Go plugin wrote; one line says so and why) or a *problem*
(missing, a size or digest that differs, unreadable; one line each).  The
lines go to stdout, the expected and seen values to the log, and one summary
line ends the output.  An encrypted object verified without its key gets a
``NO-KEY`` line besides: its stored bytes were checked against their digests,
its authenticity was not (it still counts as checked).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..integrity.checksums import encode_crc32c

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable

__all__ = ["Finding", "Kind", "Record", "Tally", "failure_line", "listed_finding", "no_record_reason"]


class Kind(enum.Enum):
    """The first word of a line; all but ``UNCHECKED`` and ``NO-KEY`` are problems."""

    MISSING = "MISSING"
    SIZE = "SIZE"
    CORRUPT = "CORRUPT"
    UNREADABLE = "UNREADABLE"
    BACKUP = "BACKUP"
    #: Object Lock retention missing or shorter than ``object_lock_mode`` and ``object_lock_retain_days`` ask.
    RETENTION = "RETENTION"
    UNCHECKED = "UNCHECKED"
    #: An encrypted object or file checked without a key: its stored bytes may be, its authenticity is not.
    NOKEY = "NO-KEY"


#: Width of the first column, the longest kind.
_KIND_WIDTH = max(len(kind.value) for kind in Kind)


@dataclass(frozen=True)
class Finding:
    """One line of ``verify``'s output; ``expected`` and ``seen`` are for the log."""

    kind: Kind
    subject: str
    detail: str
    expected: str = ""
    seen: str = ""

    @property
    def problem(self) -> bool:
        return self.kind not in (Kind.UNCHECKED, Kind.NOKEY)

    def line(self) -> str:
        return f"{self.kind.value:<{_KIND_WIDTH}} {self.subject}: {self.detail}"

    def log_line(self) -> str:
        """The line with what was expected and what was seen, when they say more than the line."""
        if not self.expected and not self.seen:
            return self.line()
        return f"{self.line()} (expected {self.expected or 'nothing'}; seen {self.seen or 'nothing'})"


@dataclass(frozen=True)
class Record:
    """An object's recorded CRC-32C and size, and where gps3async recorded them."""

    crc32c: int
    size: int
    #: ``metadata`` (a single PutObject) or ``companion`` (a multipart upload's ``.gps3async-crc32c`` object).
    source: str

    def describe(self) -> str:
        return f"{self.size} bytes, CRC-32C {encode_crc32c(self.crc32c)} (from its {self.source})"


def listed_finding(url: str, listed_size: int, record: Record | None, etag: str) -> Finding | None:
    """The shallow check of one object: its listed size against the recorded one.

    ``None`` when it matches; an ``UNCHECKED`` finding when nothing was recorded.
    """
    if record is None:
        return Finding(Kind.UNCHECKED, url, no_record_reason(etag))
    if record.size != listed_size:
        return Finding(
            Kind.SIZE, url, f"{listed_size} bytes in the bucket, {record.size} recorded at backup",
            expected=record.describe(), seen=f"{listed_size} bytes listed",
        )  # fmt: skip
    return None


def no_record_reason(etag: str, *, deep: bool = False) -> str:
    """Why an object without a recorded digest cannot be checked (a ``<hex>-N`` ETag says a multipart upload)."""
    how = ", as a multipart upload" if "-" in etag.strip('"') else ""
    checked = "read back whole, content unchecked" if deep else "only its presence is checked"
    return f"no CRC-32C or size recorded (written by the Go plugin or another tool{how}); {checked}"


def failure_line(timestamp: str, problems: int) -> str:
    """The one stderr line of a ``verify`` that found problems."""
    plural = "problem" if problems == 1 else "problems"
    return f"verify {timestamp}: {problems} {plural} in the backup set (one line each on stdout, details in the log)"


@dataclass
class Tally:
    """The summary's counts."""

    objects: int = 0
    bytes: int = 0
    checked: int = 0
    unchecked: int = 0
    problems: int = 0
    #: Bytes read back by ``--deep``.
    read_bytes: int = 0

    def count(self, findings: Iterable[Finding], objects: Collection[str]) -> None:
        """Problems and unchecked objects from ``findings``; checked: the other ``objects`` (URLs) listed."""
        findings = list(findings)
        self.problems = sum(1 for finding in findings if finding.problem)
        self.unchecked = sum(1 for finding in findings if finding.kind is Kind.UNCHECKED)
        troubled = {finding.subject for finding in findings if finding.problem} & set(objects)
        self.checked = self.objects - self.unchecked - len(troubled)

    def summary(self, timestamp: str, seconds: float, *, deep: bool) -> str:
        seconds = max(seconds, 1e-9)
        line = (
            f"verify {timestamp}{' --deep' if deep else ''}: {self.objects} objects, {self.bytes} bytes; "
            f"{self.checked} checked, {self.unchecked} unchecked, {self.problems} "
            f"{'problem' if self.problems == 1 else 'problems'}; {seconds:.2f} s"
        )
        if deep:
            line += f"; read {self.read_bytes} bytes at {self.read_bytes / seconds / 1e6:.1f} MB/s"
        return line
