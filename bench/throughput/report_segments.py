"""The segment-host section (:mod:`.segments`): 8 plugin processes at once, with and without the agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import MIB, SEGMENT_SIZE, SEGMENTS, human
from bench.harness.tables import (
    CLIENT_RSS_GOAL,
    SEGMENT_CPU_GOAL,
    agent_cell,
    bound_text,
    client_peak,
    cpu_per_gib,
    cpu_text,
    mb_per_s,
    mib,
    rss_bound,
    table,
    thin_client_within,
    verdict,
    within,
)
from gps3async.core.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from bench.options import Options
    from bench.results import Report
    from bench.throughput.segments import Batch


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
                f" {thin_client_within(client_peak(b.usages))},"
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
