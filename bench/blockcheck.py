"""What checking every block costs a restore: one object restored with its block digests, then without.

gps3async uploads the object once, restores it (every 1 MiB block checked
against the CRC-32C the backup recorded, and the whole-object CRC-32C), then
rewrites the object's companion document with only the names earlier releases
wrote (its whole CRC-32C and size) and restores it again: the whole-object
check alone, as for a backup taken by an earlier release.  Both restores go
through the same agent, each the least client CPU of ``--repeat`` runs, charged the
agent's CPU like the single-stream table; the difference in client CPU s/GiB
is the per-block check's cost.  Rendered by :func:`bench.report_modes.block_check_table`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import BenchError, progress
from bench.server import delete_prefix
from bench.singles import download_once, upload_once
from bench.tools import gps3async_tool

if TYPE_CHECKING:
    from bench.data import Slice
    from bench.server import Bench
    from bench.singles import Result
    from bench.tools import Tool

#: The names every release reads; a companion with only these is an earlier release's record.
_OLD_NAMES = ("gps3async-crc32c", "gps3async-size")
_SUFFIX = ".gps3async-crc32c"


@dataclass(frozen=True)
class BlockCheckResult:
    label: str
    result: Result


def run_block_check(bench: Bench, source: Slice) -> list[BlockCheckResult]:
    progress("restore with and without block verification (gps3async):")
    tool = gps3async_tool(bench, "blk")
    try:
        upload_once(bench, tool, source)
        checked = _least_cpu(bench, tool, source)
        _strip_block_digests(bench, tool.key)
        whole_only = _least_cpu(bench, tool, source)
    finally:
        delete_prefix(bench, tool.key)
    return [
        BlockCheckResult("every block, then the whole CRC-32C", checked),
        BlockCheckResult("the whole CRC-32C only (an earlier release's record)", whole_only),
    ]


def _least_cpu(bench: Bench, tool: Tool, source: Slice) -> Result:
    """The run that cost the least client CPU: the figure compared here, and the one a loaded machine skews least."""
    return min((download_once(bench, tool, source) for _ in range(bench.options.repeat)), key=lambda r: r.cpu)


def _strip_block_digests(bench: Bench, key: str) -> None:
    """Rewrite the companion as an earlier release wrote it (a PutObject's metadata is not touched: the bench's
    object is multipart)."""
    client, bucket = bench.client, bench.target.bucket
    try:
        body = client.get_object(Bucket=bucket, Key=key + _SUFFIX)["Body"].read().decode("ascii")
    except Exception as err:
        raise BenchError(f"no companion for {key}: the block-check bench needs an object of several parts") from err
    lines = [line for line in body.splitlines() if line.partition("=")[0] in _OLD_NAMES]
    if len(lines) != len(body.splitlines()) - 2:
        raise BenchError(f"the companion of {key} does not hold a block list: {body[:200]!r}")
    client.put_object(Bucket=bucket, Key=key + _SUFFIX, Body=("\n".join(lines) + "\n").encode("ascii"))
