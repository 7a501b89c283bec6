"""What checking every block costs a restore: one object restored with its block digests, and without.

gps3async uploads the object once, then restores it in turn with its
companion document as written (every 1 MiB block checked against the CRC-32C
the backup recorded, and the whole-object CRC-32C) and rewritten with only the
names earlier releases wrote (its whole CRC-32C and size: the whole-object
check alone, as for a backup taken by an earlier release).  All restores go
through the same agent, charged its CPU like the single-stream table; each
kind's figure is its least client CPU of ``max(--repeat, 5)`` runs, and the
difference in client CPU s/GiB is the per-block check's cost.  Taken five at a
time, one kind after the other, the block check came out at +0.17 and +0.22
CPU s/GiB; taken in turn on the same quiet machine, at -0.11: whole restores
through a pipe vary by about 0.1 CPU s/GiB, so :func:`check_work` also times
the digest work alone, which resolves the check's own cost.  Rendered by
:func:`bench.integrity.report_modes.block_check_table`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import crc32c

from bench.harness.common import GIB, BenchError, progress
from bench.harness.server import delete_prefix
from bench.harness.tools import gps3async_tool
from bench.throughput.singles import download_once, upload_once
from gps3async.core.integrity.blocks import BlockListBuilder, check_span, digest_span
from gps3async.core.plan import ByteRange, plan_ranges

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.harness.data import Slice
    from bench.harness.server import Bench
    from bench.throughput.singles import Result

#: The names every release reads; a companion with only these is an earlier release's record.
_OLD_NAMES = ("gps3async-crc32c", "gps3async-size")
_SUFFIX = ".gps3async-crc32c"
#: Restores of each kind, taken in turn (with, without, with, ...) so that a machine whose load drifts
#: during the measurement skews both alike.
MIN_PAIRS = 5


@dataclass(frozen=True)
class BlockCheckResult:
    label: str
    #: The least client CPU of ``runs`` restores.
    result: Result
    runs: int


@dataclass(frozen=True)
class CheckWork:
    """What the restore's digest work costs on the same bytes, timed alone in one thread (CPU s/GiB).

    ``whole_only``: the CRC-32C of each GET's bytes, what a restore of an object
    without block digests computes; ``every_block``: :func:`check_span` on the
    same bytes (each 1 MiB block's CRC-32C, compared with the record, combined
    into the GET's).  Their difference is the block check's own cost, without
    the noise of a whole restore (network, pipe, scheduling) around it.
    """

    whole_only: float
    every_block: float


def check_work(source: Slice, span: int, passes: int = 3) -> CheckWork:
    """Time both digests over ``source`` in ``span``-byte (GET-sized) pieces, least of ``passes``; reads not timed."""
    builder = BlockListBuilder()
    pieces = plan_ranges(ByteRange(0, source.length), span)  # as a restore cuts its GETs
    for start, view in _read(source, pieces):
        builder.add(digest_span(view, start))
    blocks = builder.finish()
    whole_only = every_block = float("inf")
    for _ in range(passes):
        crc_seconds = check_seconds = 0.0
        for start, view in _read(source, pieces):
            began = time.thread_time()
            crc32c.crc32c(view)
            middle = time.thread_time()
            found = check_span(blocks, view, start)
            crc_seconds += middle - began
            check_seconds += time.thread_time() - middle
            if found.bad is not None:
                raise BenchError(f"the block check found {found.bad.where()} bad in the bench's own data")
        whole_only, every_block = min(whole_only, crc_seconds), min(every_block, check_seconds)
    gib = source.length / GIB
    return CheckWork(whole_only / gib, every_block / gib)


def _read(source: Slice, pieces: list[ByteRange]) -> Iterator[tuple[int, memoryview]]:
    buffer = bytearray(max(piece.length for piece in pieces))
    with open(source.path, "rb") as file:
        for piece in pieces:
            view = memoryview(buffer)[: piece.length]
            file.seek(source.offset + piece.start)
            if file.readinto(view) != piece.length:
                raise BenchError(f"{source.path} ended before {source.offset + piece.end} bytes")
            yield piece.start, view


def run_block_check(bench: Bench, source: Slice) -> list[BlockCheckResult]:
    progress(f"restore with and without block verification (gps3async), {_pairs(bench)} pairs in turn:")
    tool = gps3async_tool(bench, "blk")
    checked: list[Result] = []
    whole_only: list[Result] = []
    try:
        upload_once(bench, tool, source)
        with_blocks, without = _companions(bench, tool.key)
        for _ in range(_pairs(bench)):
            _put_companion(bench, tool.key, with_blocks)
            checked.append(download_once(bench, tool, source))
            _put_companion(bench, tool.key, without)
            whole_only.append(download_once(bench, tool, source))
    finally:
        delete_prefix(bench, tool.key)
    old = "the whole CRC-32C only (an earlier release's record)"
    return [
        BlockCheckResult("every block, then the whole CRC-32C", _least_cpu(checked), len(checked)),
        BlockCheckResult(old, _least_cpu(whole_only), len(whole_only)),
    ]


def _pairs(bench: Bench) -> int:
    """At least :data:`MIN_PAIRS`: one pair's difference is within the noise of a restore's CPU."""
    return max(bench.options.repeat, MIN_PAIRS)


def _least_cpu(results: list[Result]) -> Result:
    """The run that cost the least client CPU: the figure compared here, and the one a loaded machine skews least."""
    return min(results, key=lambda r: r.cpu)


def _companions(bench: Bench, key: str) -> tuple[bytes, bytes]:
    """The object's companion as written (with its block list), and as an earlier release wrote it (without).

    A PutObject's metadata is not touched: the bench's object is multipart.
    """
    try:
        body = bench.client.get_object(Bucket=bench.target.bucket, Key=key + _SUFFIX)["Body"].read().decode("ascii")
    except Exception as err:
        raise BenchError(f"no companion for {key}: the block-check bench needs an object of several parts") from err
    lines = [line for line in body.splitlines() if line.partition("=")[0] in _OLD_NAMES]
    if len(lines) != len(body.splitlines()) - 2:
        raise BenchError(f"the companion of {key} does not hold a block list: {body[:200]!r}")
    return body.encode("ascii"), ("\n".join(lines) + "\n").encode("ascii")


def _put_companion(bench: Bench, key: str, body: bytes) -> None:
    bench.client.put_object(Bucket=bench.target.bucket, Key=key + _SUFFIX, Body=body)
