"""The single-stream section (:mod:`bench.throughput.singles`): every tool up and down, and gps3async's agent split."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import human
from bench.harness.tables import (
    DIRECTIONS,
    PEERS,
    bound_text,
    cpu_per_gib,
    cpu_text,
    mb_per_s,
    mib,
    rss_bound,
    table,
    thin_client_within,
    within,
)

if TYPE_CHECKING:
    from bench.options import Options
    from bench.results import Report
    from bench.throughput.singles import Result


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
                f" thin client {thin_client_within(r.usage.max_rss)}"
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
