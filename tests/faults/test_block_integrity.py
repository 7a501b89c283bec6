"""A byte flipped on the wire: restores fail before any byte of the bad block is written (real proxy, real server)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import BUCKET, EVERY_STORE
from tests.faults.conftest import FaultRunner, random_bytes
from tests.faults.proxy import flip_byte
from tests.faults.test_faults import backup, one_stderr_line, range_starts_at, timed_run

pytestmark = EVERY_STORE

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024
SIZE = 7 * MIB + 5  # two 5 MiB parts; 1 MiB ranges on restore (the fault config)


@pytest.mark.parametrize(
    ("range_start", "flip"),
    [(0, 0), (0, MIB - 1), (4 * MIB, 123_457), (7 * MIB, 4)],
    ids=["first", "end-of-first", "fifth", "last"],
)
def test_a_flipped_byte_stops_restore_data_before_its_block(runner: FaultRunner, range_start: int, flip: int) -> None:
    data = random_bytes(SIZE, 41)
    local, key = backup(runner, "gpbackup_0_20261126101500_41.gz", data)
    config = runner.make_config("three_mib.yaml", restore_multipart_chunksize="3MB")  # ranges of three blocks
    range_start = range_start - range_start % (3 * MIB)
    offset = range_start + flip if flip < 3 * MIB else flip
    rule = runner.proxy.add(flip_byte(offset - range_start), method="GET", path=range_starts_at(range_start), times=1)
    result, _ = timed_run(runner, "restore_data", str(local), config=config)
    assert rule.faulted == 1
    block = offset // MIB
    start, end = block * MIB, min(block * MIB + MIB, SIZE) - 1
    one_stderr_line(result, key, f"block {block} (bytes {start}-{end}) does not match the backup's CRC-32C")
    assert result.stdout == data[:start], "only the verified blocks before the bad one reach stdout"
    assert "expected CRC-32C" in runner.log_text() and ", seen " in runner.log_text()


def test_a_flipped_byte_stops_restore_data_subset(runner: FaultRunner, tmp_path: Path) -> None:
    data = random_bytes(SIZE, 42)
    local, key = backup(runner, "gpbackup_0_20261126101500_42.gz", data)
    wanted = [(10, 20), (2 * MIB + 100, 2 * MIB + 200), (5 * MIB - 3, 5 * MIB + 3)]
    offsets = tmp_path / "offsets"
    offsets.write_text(f"{len(wanted)} " + " ".join(f"{s} {e}" for s, e in wanted) + "\n")
    assert runner.run("restore_data_subset", str(local), str(offsets)).stdout == b"".join(data[s:e] for s, e in wanted)
    # The GET for the second range is widened to its whole block, [2 MiB, 3 MiB): flip a byte the range does not want.
    rule = runner.proxy.add(flip_byte(MIB - 1), method="GET", path=range_starts_at(2 * MIB), times=1)
    result, _ = timed_run(runner, "restore_data_subset", str(local), str(offsets))
    assert rule.faulted == 1
    one_stderr_line(result, key, f"block 2 (bytes {2 * MIB}-{3 * MIB - 1})")
    assert result.stdout == data[10:20]


def test_a_go_style_object_flipped_on_the_wire_fails_its_etag_check(runner: FaultRunner, s3: Any) -> None:
    data = random_bytes(3 * MIB + 11, 43)
    local = runner.data_path("gpbackup_0_20261126101500_43.gz")
    key = runner.key(local)
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)  # as the Go plugin leaves it: no metadata, MD5 ETag
    assert runner.run("restore_data", str(local)).stdout == data
    rule = runner.proxy.add(flip_byte(77), method="GET", path=range_starts_at(MIB), times=1)
    result, _ = timed_run(runner, "restore_data", str(local))
    assert rule.faulted == 1
    one_stderr_line(result, key, "do not match the ETag's MD5", hashlib.md5(data).hexdigest())
    # Without block digests the flipped byte cannot be caught before the end; only the last range waits.
    spoiled = bytearray(data)
    spoiled[MIB + 77] ^= 0xFF
    assert result.stdout == spoiled[: 3 * MIB], "every range but the last one was written"
