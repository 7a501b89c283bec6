"""What the upload journal costs: one multipart upload's record (write, fsync, rename, directory fsync, and
the unlink when it ends) and a clean sweep's scan, on a disk-backed and a tmpfs directory.

``python -m bench.percall.journal [--rounds N] [DIRECTORY...]`` (default: a directory under /tmp and /dev/shm).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time

import anyio

from gps3async.runtime.journal import UploadJournal
from gps3async.s3.sweep import find_orphans


async def _record_and_remove(journal: UploadJournal, rounds: int) -> list[float]:
    seconds = []
    for n in range(rounds):
        started = time.perf_counter()
        await journal.opened("http://127.0.0.1:9000", "bucket", f"folder/backups/key{n}", f"upload-{n}")
        journal.closed("http://127.0.0.1:9000", "bucket", f"upload-{n}")
        seconds.append(time.perf_counter() - started)
    return seconds


def _measure(base: str, rounds: int) -> str:
    directory = tempfile.mkdtemp(prefix="gps3-journal-bench-", dir=base)
    try:
        journal = UploadJournal(f"{directory}/uploads", "bench")
        upload = anyio.run(_record_and_remove, journal, rounds)
        scans = []
        for _ in range(rounds):
            started = time.perf_counter()
            find_orphans(journal)
            scans.append(time.perf_counter() - started)
    finally:
        shutil.rmtree(directory)
    return (f"{base:<10} record + remove per upload: median {statistics.median(upload) * 1e6:8.0f} us,"
            f" p90 {sorted(upload)[int(rounds * 0.9)] * 1e6:8.0f} us;"
            f" clean sweep scan: median {statistics.median(scans) * 1e6:6.0f} us")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("directories", nargs="*", default=["/tmp", "/dev/shm"])
    options = parser.parse_args()
    for base in options.directories:
        print(_measure(base, options.rounds))


if __name__ == "__main__":
    main()
