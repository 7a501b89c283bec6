"""The results of a run (:class:`Report`) and their Markdown sections, as printed and as put in the doc.

Each kind of measurement has a field on :class:`Report` and a
``<kind>_section(report) -> list[str]`` renderer; :data:`RESULT_SECTIONS`
lists the renderers in page order.  A new table is a new field, a new
renderer and one more entry there (a renderer says "Not run" when its field
is empty).  The page around the results is :mod:`bench.doc`.
"""

from __future__ import annotations

import datetime
import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.common import GIB, MB, MIB, SEGMENT_SIZE, SEGMENTS, human
from gps3async.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from bench.agentstats import AgentUsage
    from bench.invocations import Burst, Cold, Invocations, Series
    from bench.measure import Usage
    from bench.modes import ModeResult
    from bench.options import Options
    from bench.segments import Batch
    from bench.singles import Result
    from bench.subset import SubsetResult
    from bench.tools import Tool

#: gps3async's documented memory bound is chunk x (concurrency + 1) plus this, per stream.
RSS_ALLOWANCE = 80 * MIB
#: The issue's bound on the thin client that hands a call to the agent (as tests/cli/test_memory_bound.py).
CLIENT_RSS_GOAL = 15 * MIB
#: The issue's goal for the median wall time of one tiny call through a warm agent.
INVOCATION_GOAL = 0.030
#: The issue's goal: 8 processes through one agent cost at most this much more CPU per GiB than one stream.
SEGMENT_CPU_GOAL = 0.10
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
    subsets: list[SubsetResult] = field(default_factory=list)
    modes: list[ModeResult] = field(default_factory=list)
    invocations: Invocations | None = None
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


# ---------------------------------------------------------------------------
# Formatting shared by the sections


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well in a terminal; numbers align right."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(re.fullmatch(r"[-+\d.,x%]+", row[i]) for row in rows) for i in range(len(headers))]

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


def bound_text(chunk: int, concurrency: int, streams: int = 1) -> str:
    bound = rss_bound(chunk, concurrency) * streams
    per_stream = f"{human(chunk)} x ({concurrency} + 1) + 80 MiB"
    total = f"{bound / MIB:.0f} MiB"
    return f"{streams} x ({per_stream}) = {total}" if streams > 1 else f"{per_stream} = {total}"


def mib(nbytes: int) -> str:
    return f"{nbytes / MIB:.0f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``0.5``: the median; ``0.95``: p95) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def within(value: int, bound: int) -> str:
    return f"{value / MIB:.0f} MiB ({'within' if value <= bound else 'OVER'})"


def client_peak(usages: Sequence[Usage]) -> int:
    return max(u.max_rss for u in usages)


def agent_cell(agent: AgentUsage | None, value: Callable[[AgentUsage], str]) -> str:
    return value(agent) if agent else "-"


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
                r.tool, direction, f"{r.usage.wall:.2f}", f"{r.cpu:.2f}",
                f"{cpu_per_gib(r.cpu, r.nbytes):.2f}", mib(r.rss),
                f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", ratio, cpu_text(r.server_cpu),
            ])  # fmt: skip
    return table(headers, rows)


def agent_split_table(results: list[Result]) -> str:
    """What each gps3async process spent: the thin client's own numbers and its agent's, per direction."""
    headers = ["gps3async", "thin client CPU s", "agent CPU s", "thin client peak RSS MiB", "agent idle RSS MiB"]
    headers.append("agent peak RSS MiB")
    rows = [
        [r.direction, f"{r.usage.cpu:.2f}", f"{r.agent.cpu:.2f}", mib(r.usage.max_rss), mib(r.agent.idle_rss),
         mib(r.agent.peak_rss)]
        for r in results
        if r.agent is not None
    ]  # fmt: skip
    return table(headers, rows)


def singles_bound(results: list[Result], options: Options) -> str:
    bound = rss_bound(options.chunk, options.concurrency)
    parts = []
    for r in (r for r in results if r.tool == "gps3async"):
        if r.agent is None:
            parts.append(f"{r.direction}: process {within(r.usage.max_rss, bound)}")
        else:
            parts.append(
                f"{r.direction}: agent {within(r.agent.peak_rss, bound)},"
                f" thin client {within(r.usage.max_rss, CLIENT_RSS_GOAL)} of {CLIENT_RSS_GOAL / MIB:.0f} MiB"
            )
    return f"gps3async peak RSS against its bound {bound_text(options.chunk, options.concurrency)}: " + "; ".join(parts)


def singles_summary(results: list[Result]) -> list[str]:
    """One computed sentence per direction: who was fastest and where gps3async stands."""
    lines = []
    for direction in DIRECTIONS:
        fastest = fastest_peer(results, direction)
        ours = next((r for r in results if r.tool == "gps3async" and r.direction == direction), None)
        if fastest is None or ours is None:
            continue
        peer_cpu = [cpu_per_gib(r.cpu, r.nbytes) for r in results if r.direction == direction and r.tool in PEERS]
        lines.append(
            f"- {direction}: fastest peer {fastest.tool} at {mb_per_s(fastest.nbytes, fastest.usage.wall):.0f} MB/s;"
            f" gps3async {mb_per_s(ours.nbytes, ours.usage.wall):.0f} MB/s"
            f" ({ours.usage.wall / fastest.usage.wall:.2f}x its wall time),"
            f" {cpu_per_gib(ours.cpu, ours.nbytes):.2f} CPU s/GiB"
            f" against peers' {min(peer_cpu):.2f}-{max(peer_cpu):.2f}."
        )
    return lines


def singles_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Single stream: {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} requests in flight"
    if not report.singles:
        return [title, "", "Not run (`--segments-only`, `--invocations-only` or `--modes-only`)."]
    lines = [title, "", singles_table(report.singles), ""]
    if any(r.agent for r in report.singles):
        lines += [
            "gps3async runs through its per-host agent (the default), warmed by one tiny call before each transfer:",
            "its **client CPU s** is the thin client's CPU plus the agent's CPU during the transfer, and its",
            "**peak RSS MiB** the agent's peak during the transfer plus the thin client's peak.  Split:",
            "",
            agent_split_table(report.singles),
            "",
        ]
    return [*lines, singles_bound(report.singles, o), "", *singles_summary(report.singles)]


# ---------------------------------------------------------------------------
# Store modes (bench.modes)


def modes_table(results: list[ModeResult]) -> str:
    headers = ["payload_signing", "upload_checksum", "wall s", "client CPU s", "CPU s/GiB", "vs default", "MB/s"]
    headers += ["peak RSS MiB", "server CPU s", "note"]
    default = cpu_per_gib(results[0].result.cpu, results[0].result.nbytes)
    rows = []
    for m in results:
        r = m.result
        per_gib = cpu_per_gib(r.cpu, r.nbytes)
        rows.append([
            m.payload_signing, m.upload_checksum, f"{r.usage.wall:.2f}", f"{r.cpu:.2f}", f"{per_gib:.2f}",
            f"{per_gib - default:+.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", mib(r.rss),
            cpu_text(r.server_cpu), m.note or "-",
        ])  # fmt: skip
    return table(headers, rows)


def modes_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Store modes: gps3async uploads {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} in flight"
    if not report.modes:
        return [title, "", "Not run (`--skip-modes`, `--segments-only` or `--invocations-only`)."]
    return [
        title,
        "",
        "One upload per `payload_signing` and `upload_checksum` (README, Config options), each through its own",
        "agent and charged its CPU like the single-stream table.  **vs default** is the extra client CPU s/GiB",
        "over `unsigned`/`crc32c`: what the SHA-256 (`signed`) and MD5 (`md5`) of every part cost, computed",
        "in worker threads while other parts upload.  Restores are the same in every mode.",
        "",
        modes_table(report.modes),
    ]


# ---------------------------------------------------------------------------
# Segment host (bench.segments)


def single_stream_cpu(report: Report, direction: str) -> float | None:
    """gps3async's single-stream CPU s/GiB (its agent's included) in ``direction``, if that table ran."""
    ours = next((r for r in report.singles if r.tool == "gps3async" and r.direction == direction), None)
    return cpu_per_gib(ours.cpu, ours.nbytes) if ours else None


def segments_table(report: Report) -> str:
    headers = ["agent", "direction", "processes", "total MiB", "batch wall s", "aggregate MB/s", "client CPU s"]
    headers += ["CPU s/GiB", "vs single stream", "sum process peak RSS MiB", "max process peak RSS MiB"]
    headers += ["agent idle RSS MiB", "agent peak RSS MiB", "server CPU s"]
    rows = []
    for b in report.batches:
        per_gib = cpu_per_gib(b.cpu, b.nbytes)
        single = single_stream_cpu(report, b.direction)
        rows.append([
            b.mode, b.direction, str(len(b.usages)), f"{b.nbytes / MIB:.0f}", f"{b.wall:.2f}",
            f"{mb_per_s(b.nbytes, b.wall):.1f}", f"{b.cpu:.2f}", f"{per_gib:.2f}",
            f"{(per_gib / single - 1) * 100:+.0f}%" if single else "-",
            mib(sum(u.max_rss for u in b.usages)), mib(client_peak(b.usages)),
            agent_cell(b.agent, lambda a: mib(a.idle_rss)), agent_cell(b.agent, lambda a: mib(a.peak_rss)),
            cpu_text(b.server_cpu),
        ])  # fmt: skip
    return table(headers, rows)


def segments_bound(batches: list[Batch], chunk: int, concurrency: int) -> list[str]:
    bound = rss_bound(chunk, concurrency)
    lines = []
    for b in batches:
        if b.agent is None:
            over = sum(u.max_rss > bound for u in b.usages)
            lines.append(
                f"- agent {b.mode}, {b.direction}: largest process {within(client_peak(b.usages), bound)}"
                f" of {bound / MIB:.0f} MiB; {over} of {len(b.usages)} processes over"
            )
        else:
            streams = len(b.usages)
            over = sum(u.max_rss > CLIENT_RSS_GOAL for u in b.usages)
            lines.append(
                f"- agent {b.mode}, {b.direction}: agent {within(b.agent.peak_rss, bound * streams)} of"
                f" {bound_text(chunk, concurrency, streams)}; largest thin client"
                f" {within(client_peak(b.usages), CLIENT_RSS_GOAL)} of {CLIENT_RSS_GOAL / MIB:.0f} MiB,"
                f" {over} of {streams} over"
            )
    return lines


def segments_goal(report: Report) -> list[str]:
    """The issue's goal: through the agent, CPU per GiB within 10% of the single-stream figure."""
    lines = []
    for b in (b for b in report.batches if b.agent is not None):
        single = single_stream_cpu(report, b.direction)
        if single is None:
            continue
        per_gib = cpu_per_gib(b.cpu, b.nbytes)
        excess = per_gib / single - 1
        lines.append(
            f"- {b.direction}: {per_gib:.2f} CPU s/GiB through the agent against {single:.2f} single-stream"
            f" ({excess * 100:+.0f}%): {verdict(excess <= SEGMENT_CPU_GOAL)}"
        )
    if not lines:
        return []
    goal = f"Goal: the segment host's client CPU per GiB (agent's included) within {SEGMENT_CPU_GOAL:.0%}"
    return [f"{goal} of the single-stream figure (note the tables' part sizes may differ):", *lines]


def segment_settings(options: Options) -> tuple[int, int, str]:
    chunk = options.segment_chunk or DEFAULT_CHUNKSIZE
    concurrency = options.segment_concurrency or DEFAULT_CONCURRENCY
    given = options.segment_chunk is not None or options.segment_concurrency is not None
    return chunk, concurrency, "from the command line" if given else "the plugin's defaults"


def segments_section(report: Report) -> list[str]:
    chunk, concurrency, origin = segment_settings(report.options)
    title = f"## Segment host: {SEGMENTS} plugin processes x {human(SEGMENT_SIZE)} at once"
    if not report.batches:
        return [title, "", "Not run (`--skip-segments`, `--invocations-only` or `--modes-only`)."]
    goal = segments_goal(report)
    return [
        title,
        "",
        f"gps3async only, {human(chunk)} parts and {concurrency} requests per process ({origin}),",
        "once through one per-host agent (`agent` on, the default; warmed by one tiny call before each batch)",
        "and once with `agent: off`, each process doing its own transfer.",
        "Aggregate MB/s is all bytes over the batch's wall time.  **client CPU s** is every plugin process's",
        "CPU plus, with the agent on, the agent's CPU during the batch; **vs single stream** compares its",
        "CPU s/GiB with gps3async's single-stream figure above.  The process peak RSS columns are the plugin",
        "processes' own (thin clients when the agent is on); **agent peak RSS MiB** is the agent's peak",
        "during the batch.",
        "",
        segments_table(report),
        "",
        "Memory bounds (chunk x (concurrency + 1) + 80 MiB per stream; the agent serves all streams at once):",
        "",
        *segments_bound(report.batches, chunk, concurrency),
        *(["", *goal] if goal else []),
    ]


# ---------------------------------------------------------------------------
# Per invocation (bench.invocations)


def series_table(series: list[Series]) -> str:
    headers = ["agent", "verb", "calls", "median ms", "p95 ms", "own process peak RSS MiB", "own CPU ms/call"]
    headers += ["agent CPU ms/call", "agent idle RSS MiB", "agent peak RSS MiB"]
    rows = []
    for s in series:
        walls = [u.wall for u in s.usages]
        calls = len(s.usages)
        agent_cpu = ms(s.agent.cpu / calls) if s.agent else "-"
        rows.append([
            s.mode, s.verb, str(calls), ms(percentile(walls, 0.5)), ms(percentile(walls, 0.95)),
            mib(client_peak(s.usages)), ms(sum(u.cpu for u in s.usages) / calls),
            agent_cpu, agent_cell(s.agent, lambda a: mib(a.idle_rss)), agent_cell(s.agent, lambda a: mib(a.peak_rss)),
        ])  # fmt: skip
    return table(headers, rows)


def burst_table(bursts: list[Burst]) -> str:
    headers = ["verb", "calls at once", "batch wall s", "per-call median ms", "per-call p95 ms", "failures"]
    headers += ["thin client peak RSS MiB", "agent CPU s", "agent idle RSS MiB", "agent peak RSS MiB"]
    rows = []
    for b in bursts:
        walls = [u.wall for u in b.usages]
        rows.append([
            b.verb, str(b.calls), f"{b.wall:.2f}",
            ms(percentile(walls, 0.5)) if walls else "-", ms(percentile(walls, 0.95)) if walls else "-",
            str(b.failures), mib(client_peak(b.usages)) if b.usages else "-",
            agent_cell(b.agent, lambda a: f"{a.cpu:.2f}"), agent_cell(b.agent, lambda a: mib(a.idle_rss)),
            agent_cell(b.agent, lambda a: mib(a.peak_rss)),
        ])  # fmt: skip
    return table(headers, rows)


def cold_text(colds: list[Cold]) -> list[str]:
    """The cost the warm-up keeps out of every other number: a call that has to start the agent."""
    if not colds:
        return []
    walls = [c.usage.wall for c in colds]
    return [
        f"Cold start, {len(colds)} times: a 1 KiB `backup_data` with no agent running, which starts one"
        f" (excluded from every other figure by the warm-up call): wall median {ms(percentile(walls, 0.5))} ms,"
        f" max {ms(max(walls))} ms; the new agent's CPU for its start-up and that call median"
        f" {ms(percentile([c.agent_cpu for c in colds], 0.5))} ms; its peak RSS at most"
        f" {mib(max(c.agent_peak_rss for c in colds))} MiB.",
        "",
    ]


def invocation_goals(inv: Invocations) -> list[str]:
    """The issue's goals, each with the measured figure and the margin."""
    lines = []
    for s in (s for s in inv.series if s.agent is not None):
        median = percentile([u.wall for u in s.usages], 0.5)
        margin = median - INVOCATION_GOAL
        lines.append(
            f"- {s.verb} median through a warm agent at most {INVOCATION_GOAL * 1000:.0f} ms: {ms(median)} ms,"
            f" {verdict(margin <= 0)}" + (f" (over by {ms(margin)} ms)" if margin > 0 else "")
        )
    through_agent = [u for s in inv.series if s.agent is not None for u in s.usages]
    through_agent += [u for b in inv.bursts for u in b.usages]
    if through_agent:
        peak = client_peak(through_agent)
        over = peak - CLIENT_RSS_GOAL
        lines.append(
            f"- thin client peak RSS at most {CLIENT_RSS_GOAL / MIB:.0f} MiB (every call above through the agent):"
            f" {peak / MIB:.1f} MiB, {verdict(over <= 0)}" + (f" (over by {over / MIB:.1f} MiB)" if over > 0 else "")
        )
    failures = sum(b.failures for b in inv.bursts)
    if inv.bursts:
        lines.append(f"- no failures among the concurrent calls: {failures}, {verdict(failures == 0)}")
    first = next((b.first_failure for b in inv.bursts if b.first_failure), "")
    if first:
        lines += ["", "First failure:", "", "```", first.strip()[-2000:], "```"]
    return lines


def invocations_section(report: Report) -> list[str]:
    title = "## Per invocation: 1 KiB calls"
    inv = report.invocations
    if inv is None:
        return [title, "", "Not run (`--skip-invocations`, `--segments-only` or `--modes-only`)."]
    from bench.invocations import BURST

    return [
        title,
        "",
        f"{inv.calls} `backup_data` calls of 1 KiB one after another, then {inv.calls} `restore_data` calls",
        "reading them back (each verified), through a warm agent (warmed by one tiny call before each series)",
        "and with `agent: off`; the plugin's default part size and concurrency.  **median ms** and **p95 ms**:",
        "wall time of one call, from spawning `gpbackup_s3_plugin` to reaping it.  **own process peak RSS MiB**:",
        "the largest `ru_maxrss` of the call's own process over the series (the thin client; with `agent: off`",
        "the process doing the transfer).  **own CPU ms/call**: that process's CPU per call;  **agent CPU",
        "ms/call**: the agent's CPU over the series divided by the number of calls, so a call through the agent",
        "costs both.",
        "",
        series_table(inv.series),
        "",
        *cold_text(inv.colds),
        f"{BURST} calls of 1 KiB started at once through the agent, `backup_data` then `restore_data` of the same",
        "objects.  **batch wall s**: from the first spawn until the last call is reaped and verified; per-call",
        "times as above, over the calls that succeeded; **failures**: calls that exited non-zero or returned",
        "the wrong bytes.",
        "",
        burst_table(inv.bursts),
        "",
        "Goals (issue 7):",
        "",
        *invocation_goals(inv),
    ]


# ---------------------------------------------------------------------------
# restore_data_subset (bench.subset)


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
    from bench.subset import DENSE_GAP, RANGES

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


# ---------------------------------------------------------------------------
# All result sections, in page order: a new kind of measurement adds its renderer here.

RESULT_SECTIONS: tuple[Callable[[Report], list[str]], ...] = (
    singles_section,
    modes_section,
    subset_section,
    segments_section,
    invocations_section,
)


def results_text(report: Report) -> str:
    """The result sections, separated by a blank line: what ``bench.run`` prints and the doc's middle."""
    lines: list[str] = []
    for section in RESULT_SECTIONS:
        if lines:
            lines.append("")
        lines += section(report)
    return "\n".join(lines) + "\n"
