"""The ``restore_data_subset`` section (:mod:`bench.throughput.subset`): 10,000 ranges against whole-object restores."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import MIB, human
from bench.harness.tables import mb_per_s, table

if TYPE_CHECKING:
    from bench.results import Report
    from bench.throughput.subset import SubsetResult


def subset_table(results: list[SubsetResult]) -> str:
    headers = ["restore", "ranges", "MiB written", "GETs", "MiB fetched", "wall s", "client CPU s", "MB/s written"]
    headers += ["x whole object", "same bytes whole, wall s", "x same bytes"]
    whole = mb_per_s(results[0].nbytes, results[0].usage.wall)

    def same_bytes(r: SubsetResult) -> list[str]:
        if r.same_bytes is None:
            return ["-", "-"]
        return [f"{r.same_bytes.wall:.2f}", f"{r.same_bytes.wall / r.usage.wall:.2f}"]

    rows = [
        [
            r.layout, f"{r.ranges:,}", f"{r.nbytes / MIB:.0f}", f"{r.gets:,}", f"{r.fetched / MIB:.0f}",
            f"{r.usage.wall:.2f}", f"{r.cpu:.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}",
            f"{mb_per_s(r.nbytes, r.usage.wall) / whole:.2f}", *same_bytes(r),
        ]
        for r in results
    ]  # fmt: skip
    return table(headers, rows)


def subset_section(report: Report) -> list[str]:
    from bench.throughput.subset import DENSE_GAP, RANGES

    title = f"## restore_data_subset: {RANGES:,} ranges of 1-64 KiB from {human(report.options.size)}"
    if not report.subsets:
        return [title, "", "Not run (`--skip-subset`, `--segments-only`, `--invocations-only` or `--modes-only`)."]
    return [
        title,
        "",
        f"gps3async, {human(report.options.chunk)} GETs, {report.options.concurrency} in flight. Dense: each range"
        f" {human(DENSE_GAP)} or less after the one before; sparse: spread over the whole object. GETs read through",
        "gaps of up to 1 MiB; *MB/s written* is the ranges' bytes over wall time, *x whole object* that over the",
        "whole-object restore's MB/s (1.00: as fast per byte as restoring everything). *Same bytes whole* restores an",
        "object holding exactly the bytes the ranges select, whole; *x same bytes* is its wall time over the subset's",
        "(1.00 or more: the subset restore is at least as fast per byte as a whole-object restore of the same bytes).",
        "Each the fastest of `--repeat` runs.",
        "",
        subset_table(report.subsets),
    ]
