"""The single-stream comparison: every :data:`~bench.tools.TOOLS` client uploads and downloads one object.

Each direction runs ``--repeat`` times and keeps the fastest; every upload's
stored size and every download's bytes are verified.  Rendered by
:func:`bench.report.singles_section`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bench.common import BenchError, progress
from bench.measure import agent_cpu, agent_cpu_since, download_processes, upload_processes
from bench.server import delete_prefix, object_size

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.data import Slice
    from bench.measure import Usage
    from bench.server import Bench
    from bench.tools import Tool


@dataclass(frozen=True)
class Result:
    """One tool moving one object one way."""

    tool: str
    direction: str
    nbytes: int
    usage: Usage
    server_cpu: float


def best(run: Callable[[], Result], repeat: int) -> Result:
    return min((run() for _ in range(repeat)), key=lambda result: result.usage.wall)


def with_agents(bench: Bench, tool: Tool, usage: Usage, agents: dict[int, float]) -> Usage:
    """gps3async's usage with the CPU its agent spent meanwhile; other tools' as measured."""
    if tool.name != "gps3async":
        return usage
    return replace(usage, cpu=usage.cpu + agent_cpu_since(bench.home, agents))


def upload_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before, agents = bench.server_cpu(), agent_cpu(bench.home)
    _, (usage,) = upload_processes([tool.upload], tool.env, [source])
    usage = with_agents(bench, tool, usage, agents)
    result = Result(tool.name, "upload", source.length, usage, bench.server_cpu() - before)
    stored = object_size(bench.client, tool.key)
    if stored != source.length:
        raise BenchError(f"{tool.name} stored {stored} bytes at {tool.key}, not {source.length}")
    progress(f"  {tool.name} upload: {usage.wall:.2f} s")
    return result


def download_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before, agents = bench.server_cpu(), agent_cpu(bench.home)
    _, (usage,) = download_processes([tool.download], tool.env, [source])
    usage = with_agents(bench, tool, usage, agents)
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
