"""The results of a run (:class:`Report`) and their Markdown sections, as printed and as put in the doc.

Each kind of measurement has a field on :class:`Report` and a
``<kind>_section(report) -> list[str]`` renderer; :data:`RESULT_SECTIONS`
lists the renderers in page order.  A new table is a new field, a new
renderer and one more entry there (a renderer says "Not run" when its field
is empty).  The page around the results is :mod:`bench.doc`.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.common import GIB, MB, MIB, SEGMENT_SIZE, SEGMENTS, human
from gps3async.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from bench.options import Options
    from bench.segments import Batch
    from bench.singles import Result
    from bench.tools import Tool

#: gps3async's documented memory bound is chunk x (concurrency + 1) plus this.
RSS_ALLOWANCE = 80 * MIB
#: The other clients; "x fastest peer" compares against the fastest of these.
PEERS = ("s5cmd", "aws s3 cp", "rclone")
DIRECTIONS = ("upload", "download")


@dataclass
class Report:
    """Everything the printed tables and ``docs/benchmarks.md`` are rendered from: one field per measurement."""

    options: Options
    machine: list[tuple[str, str]]
    tools: list[Tool]
    endpoint: str
    home: Path
    #: Measured on the user's store (``--endpoint``), whose server CPU is not ours to see.
    remote: bool = False
    singles: list[Result] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


# ---------------------------------------------------------------------------
# Formatting shared by the sections


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well in a terminal; numbers align right."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(re.fullmatch(r"[-\d.,x%]+", row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def cpu_text(seconds: float | None) -> str:
    """Server CPU seconds, or ``n/a`` on a store the run did not start."""
    return "n/a" if seconds is None else f"{seconds:.2f}"


def mb_per_s(nbytes: int, wall: float) -> float:
    return nbytes / wall / MB


def cpu_per_gib(cpu: float, nbytes: int) -> float:
    return cpu / (nbytes / GIB)


def rss_bound(chunk: int, concurrency: int) -> int:
    return chunk * (concurrency + 1) + RSS_ALLOWANCE


def bound_text(chunk: int, concurrency: int) -> str:
    bound = rss_bound(chunk, concurrency)
    return f"{human(chunk)} x ({concurrency} + 1) + 80 MiB = {bound / MIB:.0f} MiB"


# ---------------------------------------------------------------------------
# Single stream (bench.singles)


def fastest_peer(results: list[Result], direction: str) -> Result | None:
    peers = [r for r in results if r.direction == direction and r.tool in PEERS]
    return min(peers, key=lambda r: r.usage.wall) if peers else None


def singles_table(results: list[Result]) -> str:
    headers = ["tool", "direction", "wall s", "client CPU s", "CPU s/GiB", "peak RSS MiB", "MB/s", "x fastest peer"]
    headers.append("server CPU s")
    rows = []
    for direction in DIRECTIONS:
        fastest = fastest_peer(results, direction)
        for r in (r for r in results if r.direction == direction):
            ratio = f"{r.usage.wall / fastest.usage.wall:.2f}" if fastest else "-"
            rows.append([
                r.tool, direction, f"{r.usage.wall:.2f}", f"{r.usage.cpu:.2f}",
                f"{cpu_per_gib(r.usage.cpu, r.nbytes):.2f}", f"{r.usage.max_rss / MIB:.0f}",
                f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", ratio, cpu_text(r.server_cpu),
            ])  # fmt: skip
    return table(headers, rows)


def singles_bound(results: list[Result], options: Options) -> str:
    bound = rss_bound(options.chunk, options.concurrency)
    parts = []
    for r in results:
        if r.tool == "gps3async":
            verdict = "within" if r.usage.max_rss <= bound else "OVER"
            parts.append(f"{r.direction} {r.usage.max_rss / MIB:.0f} MiB ({verdict})")
    return f"gps3async peak RSS against its bound {bound_text(options.chunk, options.concurrency)}: " + ", ".join(parts)


def singles_summary(results: list[Result]) -> list[str]:
    """One computed sentence per direction: who was fastest and where gps3async stands."""
    lines = []
    for direction in DIRECTIONS:
        fastest = fastest_peer(results, direction)
        ours = next((r for r in results if r.tool == "gps3async" and r.direction == direction), None)
        if fastest is None or ours is None:
            continue
        peer_cpu = [cpu_per_gib(r.usage.cpu, r.nbytes) for r in results if r.direction == direction and r.tool in PEERS]
        lines.append(
            f"- {direction}: fastest peer {fastest.tool} at {mb_per_s(fastest.nbytes, fastest.usage.wall):.0f} MB/s;"
            f" gps3async {mb_per_s(ours.nbytes, ours.usage.wall):.0f} MB/s"
            f" ({ours.usage.wall / fastest.usage.wall:.2f}x its wall time),"
            f" {cpu_per_gib(ours.usage.cpu, ours.nbytes):.2f} CPU s/GiB"
            f" against peers' {min(peer_cpu):.2f}-{max(peer_cpu):.2f}."
        )
    return lines


def singles_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Single stream: {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} requests in flight"
    if not report.singles:
        return [title, "", "Not run (`--segments-only`)."]
    return [
        title,
        "",
        singles_table(report.singles),
        "",
        singles_bound(report.singles, o),
        "",
        *singles_summary(report.singles),
    ]


# ---------------------------------------------------------------------------
# Segment host (bench.segments)


def segments_table(batches: list[Batch]) -> str:
    headers = ["direction", "processes", "total MiB", "batch wall s", "aggregate MB/s", "client CPU s", "CPU s/GiB"]
    headers += ["sum peak RSS MiB", "max peak RSS MiB", "server CPU s"]
    rows = []
    for b in batches:
        cpu = sum(u.cpu for u in b.usages)
        rows.append([
            b.direction, str(len(b.usages)), f"{b.nbytes / MIB:.0f}", f"{b.wall:.2f}",
            f"{mb_per_s(b.nbytes, b.wall):.1f}", f"{cpu:.2f}", f"{cpu_per_gib(cpu, b.nbytes):.2f}",
            f"{sum(u.max_rss for u in b.usages) / MIB:.0f}", f"{max(u.max_rss for u in b.usages) / MIB:.0f}",
            cpu_text(b.server_cpu),
        ])  # fmt: skip
    return table(headers, rows)


def segments_bound(batches: list[Batch], chunk: int, concurrency: int) -> str:
    bound = rss_bound(chunk, concurrency)
    parts = []
    for b in batches:
        largest = max(u.max_rss for u in b.usages)
        over = sum(u.max_rss > bound for u in b.usages)
        parts.append(f"{b.direction} {largest / MIB:.0f} MiB ({over} of {len(b.usages)} processes over)")
    return f"Largest gps3async process against the bound of {bound / MIB:.0f} MiB: " + ", ".join(parts)


def segment_settings(options: Options) -> tuple[int, int, str]:
    chunk = options.segment_chunk or DEFAULT_CHUNKSIZE
    concurrency = options.segment_concurrency or DEFAULT_CONCURRENCY
    given = options.segment_chunk is not None or options.segment_concurrency is not None
    return chunk, concurrency, "from the command line" if given else "the plugin's defaults"


def segments_section(report: Report) -> list[str]:
    chunk, concurrency, origin = segment_settings(report.options)
    title = f"## Segment host: {SEGMENTS} plugin processes x {human(SEGMENT_SIZE)} at once"
    if not report.batches:
        return [title, "", "Not run (`--skip-segments`)."]
    return [
        title,
        "",
        f"gps3async only, {human(chunk)} parts and {concurrency} requests per process ({origin}).",
        "Aggregate MB/s is all bytes over the batch's wall time;",
        f"per-process RSS bound {bound_text(chunk, concurrency)}.",
        "",
        segments_table(report.batches),
        "",
        segments_bound(report.batches, chunk, concurrency),
    ]


# ---------------------------------------------------------------------------
# All result sections, in page order: a new kind of measurement adds its renderer here.

RESULT_SECTIONS: tuple[Callable[[Report], list[str]], ...] = (singles_section, segments_section)


def results_text(report: Report) -> str:
    """The result sections, separated by a blank line: what ``bench.run`` prints and the doc's middle."""
    lines: list[str] = []
    for section in RESULT_SECTIONS:
        if lines:
            lines.append("")
        lines += section(report)
    return "\n".join(lines) + "\n"
