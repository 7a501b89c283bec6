"""What every part of the benchmark harness shares: sizes and their spelling, paths, the workload's shape, errors.

Kept free of imports from the rest of :mod:`bench` so that any module can use
it without an import cycle.
"""

from __future__ import annotations

import sys
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
MB = 1_000_000

#: The project directory (this file is bench/harness/common.py).
REPO = Path(__file__).resolve().parents[2]
#: Scratch space: the data files and the S3 server's log (git-ignored).
WORK = REPO / ".bench"
DOC = REPO / "docs" / "benchmarks.md"
#: The tools under test are installed beside the interpreter, in the virtualenv.
BIN = Path(sys.executable).parent
#: Segment-host mode: this many plugin processes at once, each moving this much.
SEGMENTS = 8
SEGMENT_SIZE = 256 * MIB


class BenchError(RuntimeError):
    """A tool failed or a transfer did not verify: the numbers of this run mean nothing."""


def human(size: int) -> str:
    """The shortest exact binary spelling: ``1GiB``, ``8MiB``, ``1536KiB``."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size % scale == 0:
            return f"{size // scale}{unit}"
    return f"{size}B"


def progress(text: str) -> None:
    """Progress goes to stderr so that stdout carries only the result tables."""
    print(text, file=sys.stderr, flush=True)
