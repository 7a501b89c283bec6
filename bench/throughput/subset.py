"""``restore_data_subset``: 10,000 small ranges of one object against a whole-object restore of it.

gprestore asks for byte ranges when it restores some tables of an
uncompressed single-file backup: one range per table, in file order, the
tables it skips in between.  The harness uploads the data file once with
gps3async, restores it whole (the reference: bytes per wall second), then
restores :data:`RANGES` ranges of 1-64 KiB in two layouts, each verified by
length and CRC-32 (every restore the fastest of ``--repeat`` runs), and for
each layout also uploads an object of exactly the bytes its ranges select and
restores that whole: the issue's yardstick, a whole-object restore of the
same bytes, which pays the same start-up for the same output:

- **dense**: each range follows the one before after a gap of 0-4 KiB (most
  tables of a stretch of the file restored);
- **sparse**: the ranges spread evenly over the whole object (gaps of about
  70 KiB: a third of the file's bytes restored).

Rendered by :func:`bench.throughput.report_subset.subset_section`.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.agentstats import charged
from bench.harness.common import KIB, MIB, progress
from bench.harness.data import Slice
from bench.harness.measure import download_processes, upload_processes
from bench.harness.server import delete_prefix
from gps3async.core.plan import SUBSET_MAX_GAP, ByteRange, plan_fetches

if TYPE_CHECKING:
    from pathlib import Path

    from bench.harness.agentstats import AgentUsage
    from bench.harness.measure import Usage
    from bench.harness.server import Bench
    from bench.harness.tools import Tool

RANGES = 10_000
SMALLEST, LARGEST = 1 * KIB, 64 * KIB
DENSE_GAP = 4 * KIB
SEED = 2026
#: The smallest object both layouts fit in (the sparse one gives each range a slot of at least 64 KiB).
MIN_SIZE = RANGES * (LARGEST + DENSE_GAP)


@dataclass(frozen=True)
class SubsetResult:
    """One restore: ``layout`` is "whole object" or a range layout; ``agent`` the agent's share of it."""

    layout: str
    ranges: int
    nbytes: int
    gets: int
    fetched: int
    usage: Usage
    agent: AgentUsage | None = None
    #: A whole-object restore of an object holding exactly the bytes this restore writes.
    same_bytes: Usage | None = None

    @property
    def cpu(self) -> float:
        """The restore's client-side CPU: the plugin process plus, through an agent, the agent's."""
        return self.usage.cpu + (self.agent.cpu if self.agent else 0.0)


def dense_ranges(size: int, rng: random.Random) -> list[ByteRange]:
    ranges, position = [], 0
    for _ in range(RANGES):
        start = position + rng.randint(0, DENSE_GAP)
        ranges.append(ByteRange(start, min(start + rng.randint(SMALLEST, LARGEST), size)))
        position = ranges[-1].end
    return ranges


def sparse_ranges(size: int, rng: random.Random) -> list[ByteRange]:
    slot = size // RANGES
    starts = [n * slot + rng.randint(0, slot - LARGEST) for n in range(RANGES)]
    return [ByteRange(start, start + rng.randint(SMALLEST, LARGEST)) for start in starts]


def expected(data: Path, ranges: list[ByteRange], copy: Path) -> Slice:
    """What the subset restore must write, also saved as ``copy``: its length and CRC-32, read from the data file."""
    crc, total = 0, 0
    with data.open("rb") as source, copy.open("wb") as out:
        for piece in ranges:
            source.seek(piece.start)
            block = source.read(piece.length)
            out.write(block)
            crc = zlib.crc32(block, crc)
            total += piece.length
    return Slice(data, 0, total, crc)


def timed_restore(
    bench: Bench, tool: Tool, argv: list[str], target: Slice, what: str
) -> tuple[Usage, AgentUsage | None]:
    """The fastest of ``--repeat`` runs of ``argv``, each verified against ``target``, with its agent's share."""
    runs = []
    for _ in range(bench.options.repeat):
        with charged(tool.agents) as agent:
            _, (usage,) = download_processes([argv], tool.env, [target])
        runs.append((usage, agent.usage))
        progress(f"  {what}: {usage.wall:.2f} s (verified)")
    return min(runs, key=lambda run: run[0].wall)


def restore_subset(bench: Bench, tool: Tool, data: Path, layout: str, ranges: list[ByteRange]) -> SubsetResult:
    offsets = bench.home / f"offsets-{layout}.txt"
    offsets.write_text(f"{len(ranges)} " + " ".join(f"{r.start} {r.end}" for r in ranges) + "\n")
    plugin, _, config, path = tool.download
    argv = [plugin, "restore_data_subset", config, path, str(offsets)]
    fetches = list(plan_fetches(ranges, chunksize=bench.options.chunk, max_gap=SUBSET_MAX_GAP))
    copy = bench.home / f"same-bytes-{layout}.bin"
    target = expected(data, ranges, copy)
    usage, agent = timed_restore(bench, tool, argv, target, f"subset {layout}")
    fetched = sum(fetch.span.length for fetch in fetches)
    try:
        same_bytes = whole_restore_of(bench, tool, Slice(copy, 0, target.length, target.crc), layout)
    finally:
        copy.unlink()
    return SubsetResult(layout, len(ranges), target.length, len(fetches), fetched, usage, agent, same_bytes)


def whole_restore_of(bench: Bench, tool: Tool, source: Slice, layout: str) -> Usage:
    """Upload ``source`` beside the data file's object (same key prefix) and time its whole-object restore."""
    path = tool.download[-1] + f"_same_bytes_{layout}"
    upload_processes([[*tool.upload[:-1], path]], tool.env, [source])
    usage, _ = timed_restore(bench, tool, [*tool.download[:-1], path], source, f"whole object of the {layout} bytes")
    return usage


def run_subset(bench: Bench, tool: Tool, source: Slice) -> list[SubsetResult]:
    """Upload ``source`` with ``tool`` (gps3async), restore it whole, then each layout of ranges."""
    if source.length < MIN_SIZE:
        progress(f"restore_data_subset: skipped (needs --size of at least {MIN_SIZE // MIB} MiB)")
        return []
    progress(f"restore_data_subset: {RANGES} ranges of 1-64 KiB")
    try:
        upload_processes([tool.upload], tool.env, [source])
        whole, agent = timed_restore(bench, tool, tool.download, source, "whole object")
        gets = -(-source.length // bench.options.chunk)
        results = [SubsetResult("whole object", 1, source.length, gets, source.length, whole, agent)]
        rng = random.Random(SEED)
        layouts = {"dense": dense_ranges(source.length, rng), "sparse": sparse_ranges(source.length, rng)}
        results += [restore_subset(bench, tool, source.path, name, ranges) for name, ranges in layouts.items()]
    finally:
        delete_prefix(bench, tool.key)
    return results
