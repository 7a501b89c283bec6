"""The block-check bench's direct measurement of the digest work (no server: a file and a thread)."""

from __future__ import annotations

import os
import zlib
from typing import TYPE_CHECKING

import pytest

from bench.harness.common import BenchError
from bench.harness.data import Slice
from bench.integrity.blockcheck import check_work

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024


def test_both_digests_are_timed_over_every_piece_of_the_slice(tmp_path: Path) -> None:
    data = os.urandom(5 * MIB + 12345)
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 100 + data)
    work = check_work(Slice(path, 100, len(data), zlib.crc32(data)), 2 * MIB, passes=2)
    assert work.whole_only > 0 and work.every_block > 0


def test_a_file_shorter_than_its_slice_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(os.urandom(MIB))
    with pytest.raises(BenchError, match="ended before"):
        check_work(Slice(path, 0, 2 * MIB, 0), MIB)
