"""Plaintext byte ranges of an encrypted object, mapped onto the segments that hold them (pure).

``restore_data_subset`` asks for plaintext ranges; an encrypted object can
only be read in whole segments, since each is authenticated as a whole.  The
plan fetches, for the ranges in the order given, just the segments that cover
them, grouping neighbours into one GET as :func:`gps3async.core.plan.plan_fetches`
does for plain objects (reading through a gap of up to ``max_gap_segments``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..plan import ByteRange, coalesce

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from .format import Layout

__all__ = ["SegmentFetch", "plan_segment_fetches"]


@dataclass(frozen=True)
class SegmentFetch:
    """One GET of segments ``[first, end)``; ``pieces`` are the plaintext ranges to write from them, ascending."""

    first: int
    end: int
    pieces: tuple[ByteRange, ...]

    def stored_range(self, layout: Layout, stored_size: int) -> ByteRange:
        return ByteRange(layout.stored_offset(self.first), min(layout.stored_offset(self.end), stored_size))


def plan_segment_fetches(
    wanted: Iterable[ByteRange], layout: Layout, *, max_segments: int, max_gap_segments: int
) -> Iterator[SegmentFetch]:
    """GETs of at most ``max_segments`` segments that write ``wanted`` (plaintext ranges) in the order given.

    A range joins the GET before it when it starts no earlier than that GET's
    last piece ends and at most ``max_gap_segments`` segments after its last
    segment (two tables sharing a segment share the GET); otherwise, or when
    the GET is full, a new GET starts, so output order is always the order given.
    """
    size = layout.segment_size
    first = end = 0
    pieces: list[ByteRange] = []
    for rng in coalesce(wanted):
        position = rng.start
        while position < rng.end:
            segment = position // size
            joins = (
                pieces
                and position >= pieces[-1].end
                and first <= segment <= end + max_gap_segments
                and segment < first + max_segments
            )
            if not joins:
                if pieces:
                    yield SegmentFetch(first, end, tuple(pieces))
                first, end, pieces = segment, segment, []
            last_segment = min(-(-rng.end // size), first + max_segments)
            stop = min(rng.end, last_segment * size)
            pieces.append(ByteRange(position, stop))
            end = max(end, last_segment)
            position = stop
    if pieces:
        yield SegmentFetch(first, end, tuple(pieces))
