"""Byte arithmetic for transfers (pure, sans-I/O).

This module owns: byte ranges and how an object is cut into ranged GETs; the
multipart part-size schedule that keeps any stream under S3's 10,000-part and
5 TiB limits; the ``restore_data_subset`` offsets file; ``Content-Range``
checks.  Limits are parameters so tests can shrink them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import IntegrityError, PartLimitExceeded, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "MAX_PARTS",
    "SUBSET_MAX_GAP",
    "ByteRange",
    "Fetch",
    "PartSchedule",
    "check_content_range",
    "coalesce",
    "parse_offsets",
    "plan_fetches",
    "plan_ranges",
    "split",
]

MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024**3
#: The largest gap between two wanted ranges that one GET reads through (and drops) rather than
#: paying another request.  A request costs about a millisecond of client CPU and a round trip; on
#: a local link a millisecond moves about a megabyte, on S3 a round trip several.
SUBSET_MAX_GAP = 1024 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


@dataclass(frozen=True)
class ByteRange:
    """The half-open range ``[start, end)`` of an object."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad byte range [{self.start}, {self.end})")

    @property
    def length(self) -> int:
        return self.end - self.start

    def header(self) -> str:
        """The HTTP ``Range`` value (inclusive end); only for non-empty ranges."""
        return f"bytes={self.start}-{self.end - 1}"


def plan_ranges(whole: ByteRange, chunksize: int) -> list[ByteRange]:
    """Cut ``whole`` into consecutive ranges of at most ``chunksize`` bytes."""
    if chunksize <= 0:
        raise ValueError("chunksize must be positive")
    return list(split([whole], chunksize))


def split(ranges: Iterable[ByteRange], chunksize: int) -> Iterator[ByteRange]:
    """Cut each range into pieces of at most ``chunksize``, keeping order."""
    for rng in ranges:
        for start in range(rng.start, rng.end, chunksize):
            yield ByteRange(start, min(start + chunksize, rng.end))


def coalesce(ranges: Iterable[ByteRange]) -> list[ByteRange]:
    """Merge ranges that touch, in the order given (never reorders output bytes)."""
    merged: list[ByteRange] = []
    for rng in ranges:
        if rng.length == 0:
            continue
        if merged and merged[-1].end == rng.start:
            merged[-1] = ByteRange(merged[-1].start, rng.end)
        else:
            merged.append(rng)
    return merged


@dataclass(frozen=True)
class Fetch:
    """One ranged GET: ``span`` is fetched, and only ``keep`` (inside it, in order) is written out."""

    span: ByteRange
    keep: tuple[ByteRange, ...]

    @property
    def kept(self) -> int:
        return sum(part.length for part in self.keep)


def plan_fetches(
    ranges: Iterable[ByteRange], *, chunksize: int, max_gap: int, block_size: int = 1, object_size: int = 0
) -> Iterator[Fetch]:
    """Group wanted ranges, in the order given, into GETs of at most ``chunksize`` bytes.

    A range joins the GET before it when it starts after that GET's end by at
    most ``max_gap`` bytes and the GET stays within ``chunksize``; the gap is
    fetched and dropped.  A range that starts earlier, or further away, starts
    a new GET, so the output order is always the order given.

    With ``block_size`` above 1 every GET is widened to block boundaries
    (clipped at ``object_size``), so each block holding a wanted byte is read
    whole and can be checked: at most one block more on each side, the order of
    the read-through ``max_gap`` already accepts.  ``chunksize`` must then be a
    multiple of ``block_size``; ranges are cut on multiples of ``chunksize`` of
    the object, so a widened GET still fits in ``chunksize``.
    """
    if block_size > 1 and chunksize % block_size:
        raise ValueError("chunksize must be a multiple of block_size")

    def down(offset: int) -> int:
        return offset - offset % block_size

    def up(offset: int) -> int:
        return offset if block_size == 1 else min(-(-offset // block_size) * block_size, object_size)

    pieces = split(coalesce(ranges), chunksize) if block_size == 1 else _split_on_grid(coalesce(ranges), chunksize)
    start = end = 0
    keep: list[ByteRange] = []
    for piece in pieces:
        joins = keep and 0 <= piece.start - end <= max_gap and up(piece.end) - down(start) <= chunksize
        if not joins:
            if keep:
                yield Fetch(ByteRange(down(start), up(end)), tuple(keep))
            start, keep = piece.start, []
        keep.append(piece)
        end = piece.end
    if keep:
        yield Fetch(ByteRange(down(start), up(end)), tuple(keep))


def _split_on_grid(ranges: Iterable[ByteRange], chunksize: int) -> Iterator[ByteRange]:
    """Cut each range at the object's multiples of ``chunksize``, keeping order."""
    for rng in ranges:
        start = rng.start
        while start < rng.end:
            stop = min(rng.end, (start // chunksize + 1) * chunksize)
            yield ByteRange(start, stop)
            start = stop


def parse_offsets(text: str) -> list[ByteRange]:
    """Parse gpbackup_helper's offsets file: ``N s1 e1 ... sN eN`` (half-open ranges).

    :raises UsageError: when the text is not N followed by N ordered pairs.
    """
    fields = text.split()
    try:
        numbers = [int(field) for field in fields]
    except ValueError:
        raise UsageError("offsets file must hold integers: N start1 end1 ...") from None
    if not numbers or numbers[0] < 0 or len(numbers) != 1 + 2 * numbers[0]:
        raise UsageError(f"offsets file must hold a count N then N start/end pairs, got {len(fields)} fields")
    pairs = numbers[1:]
    try:
        return [ByteRange(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]
    except ValueError as err:
        raise UsageError(f"offsets file: {err}") from None


def check_content_range(header: str | None, expected: ByteRange, *, status: int) -> int | None:
    """Check a ranged GET's ``Content-Range`` and return the object's total size.

    A server may answer 200 with a correct ``Content-Range`` (rclone does);
    only the header's numbers matter.  Returns ``None`` when the total is ``*``.

    :raises IntegrityError: when the server sent a different range.
    """
    if header is None:
        if status == 200 and expected.start == 0:
            return None  # whole object returned; the caller reads what it asked for
        raise IntegrityError(f"server ignored Range {expected.header()} (status {status})")
    match = _CONTENT_RANGE.match(header.strip())
    if match is None:
        raise IntegrityError(f"unreadable Content-Range {header!r}")
    first, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
    if first != expected.start or last > expected.end - 1:
        raise IntegrityError(f"asked for {expected.header()}, got Content-Range {header!r}")
    return None if total == "*" else int(total)


@dataclass(frozen=True)
class PartSchedule:
    """Part sizes for a stream of unknown length.

    The first ``flat_parts`` parts are ``chunksize`` bytes, so streams up to
    ``flat_parts x chunksize`` (78 GiB at 16 MiB) never change part size.  As
    the count nears S3's limit, each following tier of ``parts_per_tier``
    parts doubles the size, capped at ``max_part_size``.  With the defaults even
    a 5 MiB chunk reaches S3's 5 TiB object limit inside 10,000 parts
    (:meth:`capacity` is 8.8 TiB).
    """

    chunksize: int
    flat_parts: int = 5000
    parts_per_tier: int = 400
    max_parts: int = MAX_PARTS
    max_part_size: int = MAX_PART_SIZE

    def tier_of(self, part_number: int) -> int:
        if part_number <= self.flat_parts:
            return 0
        return 1 + (part_number - self.flat_parts - 1) // self.parts_per_tier

    def part_size(self, part_number: int) -> int:
        """Size of part ``part_number`` (1-based).

        :raises PartLimitExceeded: past ``max_parts``.
        """
        if part_number > self.max_parts:
            raise PartLimitExceeded(
                f"stream exceeds S3's {self.max_parts} parts ({self.capacity()} bytes at this chunk size); "
                "raise backup_multipart_chunksize"
            )
        return min(self.chunksize << self.tier_of(part_number), self.max_part_size)

    def last_part_of_tier(self, tier: int) -> int:
        return min(self.flat_parts + tier * self.parts_per_tier, self.max_parts)

    def capacity(self) -> int:
        """The largest stream this schedule can upload."""
        total, number = 0, 1
        while number <= self.max_parts:
            last = self.last_part_of_tier(self.tier_of(number))
            total += (last - number + 1) * self.part_size(number)
            number = last + 1
        return total
