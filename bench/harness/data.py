"""The test data: one incompressible file under ``.bench/`` per size, and the checksummed slices transfers send."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.common import MIB, SEGMENT_SIZE, SEGMENTS, WORK, BenchError, human

if TYPE_CHECKING:
    from pathlib import Path

#: Blocks of ``os.urandom`` written to the data file, and of reads while checksumming it.
DATA_BLOCK = 64 * MIB


@dataclass(frozen=True)
class Slice:
    """Part of the data file that one transfer sends, and the CRC-32 it must come back with."""

    path: Path
    offset: int
    length: int
    crc: int


def ensure_data(size: int) -> Path:
    """``.bench/data-<size>.bin`` of incompressible bytes, written once and reused."""
    WORK.mkdir(exist_ok=True)
    ignore = WORK / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    path = WORK / f"data-{human(size)}.bin"
    if path.exists() and path.stat().st_size == size:
        return path
    # Written aside and renamed, so an interrupted run never leaves a short file that looks complete.
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        for start in range(0, size, DATA_BLOCK):
            out.write(os.urandom(min(DATA_BLOCK, size - start)))
    partial.replace(path)
    return path


def make_slice(path: Path, offset: int, length: int) -> Slice:
    crc = 0
    with path.open("rb") as data:
        data.seek(offset)
        for start in range(0, length, DATA_BLOCK):
            block = data.read(min(DATA_BLOCK, length - start))
            if not block:
                raise BenchError(f"{path} is shorter than {offset + length} bytes")
            crc = zlib.crc32(block, crc)
    return Slice(path, offset, length, crc)


def segment_slices(path: Path, size: int) -> list[Slice]:
    """One slice per segment, reusing the data file's 256 MiB slots round-robin."""
    slots = [make_slice(path, slot * SEGMENT_SIZE, SEGMENT_SIZE) for slot in range(min(size // SEGMENT_SIZE, SEGMENTS))]
    return [slots[content % len(slots)] for content in range(SEGMENTS)]
