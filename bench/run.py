"""The benchmark harness: gps3async against s5cmd, ``aws s3 cp`` and rclone on one local S3 server.

It owns everything a benchmark run needs: the incompressible test data under
``.bench/``, one ``rclone serve s3`` (fast mode) for the whole run, the command
line of every tool, feeding each tool's stdin through a pipe and draining its
stdout through a pipe, the measurements (wall time, and client CPU time and
peak RSS from ``os.wait4`` in :mod:`bench.launch`), verification of every
transfer, the result tables and ``docs/benchmarks.md``.

Usage: ``python -m bench.run [--size 1GiB] [--chunk 8MiB] [--concurrency 4]
[--repeat N] [--segments-only | --skip-segments] [--no-write-doc]``.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.common import BIN, DOC, GIB, KIB, MB, MIB, REPO, SEGMENT_SIZE, SEGMENTS, BenchError, human, progress
from bench.data import Slice, ensure_data, make_slice, segment_slices
from bench.measure import Usage, download_processes, upload_processes
from bench.options import Options, parse_args
from bench.server import Bench, delete_prefix, object_size, running_server
from bench.tools import TOOLS, Tool, gpbackup_path, plugin_config
from gps3async.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


#: gps3async's documented memory bound is chunk x (concurrency + 1) plus this.
RSS_ALLOWANCE = 80 * MIB
PEERS = ("s5cmd", "aws s3 cp", "rclone")
DIRECTIONS = ("upload", "download")


# ---------------------------------------------------------------------------
# Measurements


@dataclass(frozen=True)
class Result:
    """One tool moving one object one way."""

    tool: str
    direction: str
    nbytes: int
    usage: Usage
    server_cpu: float


@dataclass(frozen=True)
class Batch:
    """Segment-host mode: every process of one direction, run at once."""

    direction: str
    nbytes: int
    wall: float
    usages: list[Usage]
    server_cpu: float


def best(run: Callable[[], Result], repeat: int) -> Result:
    return min((run() for _ in range(repeat)), key=lambda result: result.usage.wall)


def upload_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = upload_processes([tool.upload], tool.env, [source])
    result = Result(tool.name, "upload", source.length, usage, bench.server_cpu() - before)
    stored = object_size(bench.client, tool.key)
    if stored != source.length:
        raise BenchError(f"{tool.name} stored {stored} bytes at {tool.key}, not {source.length}")
    progress(f"  {tool.name} upload: {usage.wall:.2f} s")
    return result


def download_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = download_processes([tool.download], tool.env, [source])
    progress(f"  {tool.name} download: {usage.wall:.2f} s (verified)")
    return Result(tool.name, "download", source.length, usage, bench.server_cpu() - before)


def measure_tool(bench: Bench, tool: Tool, source: Slice) -> list[Result]:
    try:
        upload = best(lambda: upload_once(bench, tool, source), bench.options.repeat)
        download = best(lambda: download_once(bench, tool, source), bench.options.repeat)
    finally:
        delete_prefix(bench.client, tool.key)
    return [upload, download]


def run_singles(bench: Bench, tools: list[Tool], source: Slice) -> list[Result]:
    results: list[Result] = []
    for tool in tools:
        progress(f"{tool.name}:")
        results += measure_tool(bench, tool, source)
    return results


def segment_tool(bench: Bench) -> tuple[list[list[str]], list[list[str]], str]:
    """The 8 backup_data and 8 restore_data command lines, and the folder they write under."""
    o = bench.options
    folder = "segments"
    config = plugin_config(
        bench.home / "segments.yaml", bench.server.endpoint, folder, o.segment_chunk, o.segment_concurrency
    )
    plugin = str(BIN / "gpbackup_s3_plugin")
    paths = [gpbackup_path(content) for content in range(SEGMENTS)]
    backups = [[plugin, "backup_data", str(config), path] for path in paths]
    restores = [[plugin, "restore_data", str(config), path] for path in paths]
    return backups, restores, folder + "/"


def run_segments(bench: Bench, data: Path) -> list[Batch]:
    sources = segment_slices(data, bench.options.size)
    backups, restores, prefix = segment_tool(bench)
    env, nbytes = bench.plugin_env(), sum(source.length for source in sources)
    progress(f"segment host: {SEGMENTS} x {human(SEGMENT_SIZE)}")
    try:
        before = bench.server_cpu()
        wall, usages = upload_processes(backups, env, sources)
        upload = Batch("upload", nbytes, wall, usages, bench.server_cpu() - before)
        progress(f"  upload batch: {wall:.2f} s")
        before = bench.server_cpu()
        wall, usages = download_processes(restores, env, sources)
        download = Batch("download", nbytes, wall, usages, bench.server_cpu() - before)
        progress(f"  download batch: {wall:.2f} s (verified)")
    finally:
        delete_prefix(bench.client, prefix)
    return [upload, download]


# ---------------------------------------------------------------------------
# Reporting


def first_line(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return lines[0] if lines else "unknown"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * KIB / GIB
    return 0.0


def machine(bench: Bench) -> list[tuple[str, str]]:
    env = bench.env()
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("Load average at start (1, 5, 15 min)", ", ".join(f"{load:.2f}" for load in os.getloadavg())),
        ("CPU model", cpu_model()),
        ("Memory", f"{memory_gib():.1f} GiB"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("gps3async", first_line([str(BIN / "gpbackup_s3_plugin"), "--version"], bench.plugin_env())),
        ("gps3async code measured", bench.plugin.description),
        ("s5cmd", first_line([str(BIN / "s5cmd"), "version"], env)),
        ("aws", first_line([str(BIN / "aws"), "--version"], env)),
        ("rclone (client and server)", first_line([str(BIN / "rclone"), "version"], env)),
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well in a terminal; numbers align right."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(re.fullmatch(r"[-\d.,x%]+", row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def mb_per_s(nbytes: int, wall: float) -> float:
    return nbytes / wall / MB


def cpu_per_gib(cpu: float, nbytes: int) -> float:
    return cpu / (nbytes / GIB)


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
                f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", ratio, f"{r.server_cpu:.2f}",
            ])  # fmt: skip
    return table(headers, rows)


def rss_bound(chunk: int, concurrency: int) -> int:
    return chunk * (concurrency + 1) + RSS_ALLOWANCE


def bound_text(chunk: int, concurrency: int) -> str:
    bound = rss_bound(chunk, concurrency)
    return f"{human(chunk)} x ({concurrency} + 1) + 80 MiB = {bound / MIB:.0f} MiB"


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
            f"{b.server_cpu:.2f}",
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


@dataclass
class Report:
    options: Options
    machine: list[tuple[str, str]]
    tools: list[Tool]
    endpoint: str
    home: Path
    singles: list[Result] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


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


def results_text(report: Report) -> str:
    return "\n".join([*singles_section(report), "", *segments_section(report)]) + "\n"


def shown(argv: list[str], report: Report) -> str:
    text = shlex.join(argv)
    return (
        text.replace(report.endpoint, "http://127.0.0.1:$PORT")
        .replace(str(report.home), "$TMP")
        .replace(str(BIN) + "/", "")
    )


def commands_section(report: Report) -> list[str]:
    lines = ["## Command lines", "", "Endpoint and scratch directory shown as `$PORT` and `$TMP`.", ""]
    for tool in report.tools:
        lines += [f"- **{tool.name}**: {tool.notes}", "", "  ```sh"]
        lines += [f"  {shown(tool.upload, report)}  < data", f"  {shown(tool.download, report)}  > pipe", "  ```", ""]
    return lines


METHOD = """\
Every tool uploads the same incompressible file from **stdin** and downloads it back to **stdout**,
as gpbackup drives its storage plugin.  The harness splices the page-cached file into a pipe on the
tool's stdin, and reads the tool's stdout from a pipe, keeping only the byte count and a CRC-32 that
must equal the source's (every transfer is verified; after each upload the object's size is checked
too).  All tools use the same part size and requests in flight, and talk to one
`rclone serve s3` on 127.0.0.1 in fast mode (`--etag-hash ''`, `--no-checksum`, `--ignore-checksum`),
whose objects live in `/dev/shm` when it has room.  Server, tools and harness share the machine's CPUs.

- **wall s**: from spawning the tool to reaping it, so start-up is included.
- **client CPU s**, **peak RSS**: user+sys time and `ru_maxrss` of the tool's process from `os.wait4`.
  Each tool is started by a tiny launcher, `bench/launch.py` (a bare `python -I -S`), rather than by
  the harness, because a child's `ru_maxrss` starts from its parent's high-water mark.  The launcher's
  ~9 MiB is therefore the floor of the RSS column; the harness's own reading and checksumming is in
  neither number.
- **MB/s**: decimal megabytes per wall second.  **x fastest peer**: wall time over the fastest of
  s5cmd, aws s3 cp and rclone in that direction.
- **server CPU s**: CPU the S3 server spent during the transfer, from `/proc`.
- Segment-host mode: the batch's wall time is measured by the harness, from the first spawn until
  every process is reaped and every stream drained."""


def render_doc(report: Report) -> str:
    o = report.options
    run = shlex.join(["python", "-m", "bench.run", *o.argv])
    intro = [
        "# Benchmarks",
        "",
        "gps3async (this plugin) against the usual S3 streaming clients, on one machine and a local S3 server.",
        "",
        "Reproduce with `make bench`, which runs `python -m bench.run`; this page was written by",
        f"`{run}` on {report.date}" + (f", best of {o.repeat} runs." if o.repeat > 1 else ", one run each."),
        "`python -m bench.run --help` lists the options.",
        "",
        "## Method",
        "",
        METHOD,
        "",
        "## Machine",
        "",
        table(["", ""], [list(pair) for pair in report.machine]),
        "",
    ]
    return "\n".join([*intro, results_text(report), *commands_section(report)]).rstrip() + "\n"


# ---------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    load = os.getloadavg()[0]
    if load > 0.5:
        progress(f"warning: load average is {load:.2f}; other work on this machine will skew the numbers")
    data = ensure_data(options.size)
    progress(f"data: {data} ({human(options.size)})")
    try:
        report = run(options, data)
    except BenchError as err:
        progress(f"benchmark failed: {err}")
        return 1
    print(results_text(report))
    if options.write_doc:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(render_doc(report))
        progress(f"wrote {DOC.relative_to(REPO)}")
    return 0


def run(options: Options, data: Path) -> Report:
    with running_server(options) as bench:
        tools = [make(bench) for make in TOOLS]
        report = Report(options, machine(bench), tools, bench.server.endpoint, bench.home)
        if options.singles:
            report.singles = run_singles(bench, tools, make_slice(data, 0, options.size))
        if options.segments:
            report.batches = run_segments(bench, data)
    return report


if __name__ == "__main__":
    sys.exit(main())
