"""The single-stream comparison: every :data:`~bench.harness.tools.TOOLS` client uploads and downloads one object.

Each direction runs ``--repeat`` times and keeps the fastest; every upload's
stored size and every download's bytes are verified.  A tool that works
through an agent (gps3async) is charged the agent's CPU and peak memory over
each transfer (:func:`bench.harness.agentstats.charged`, which also warms the agent
first).  Rendered by :func:`bench.throughput.report_singles.singles_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.agentstats import charged
from bench.harness.common import BenchError, progress
from bench.harness.measure import download_processes, upload_processes
from bench.harness.server import delete_prefix, object_size

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.harness.agentstats import AgentUsage
    from bench.harness.data import Slice
    from bench.harness.measure import Usage
    from bench.harness.server import Bench
    from bench.harness.tools import Tool


@dataclass(frozen=True)
class Result:
    """One tool moving one object one way; ``usage`` is the tool's own process, ``agent`` its agent's share."""

    tool: str
    direction: str
    nbytes: int
    usage: Usage
    #: ``None`` when the server is not the run's own (``--endpoint``).
    server_cpu: float | None
    agent: AgentUsage | None = None

    @property
    def cpu(self) -> float:
        """The transfer's client-side CPU: the tool's process plus, through an agent, the agent's."""
        return self.usage.cpu + (self.agent.cpu if self.agent else 0.0)

    @property
    def rss(self) -> int:
        """The transfer's client-side memory: the tool's peak plus, through an agent, the agent's peak."""
        return self.usage.max_rss + (self.agent.peak_rss if self.agent else 0)


def best(run: Callable[[], Result], repeat: int) -> Result:
    return min((run() for _ in range(repeat)), key=lambda result: result.usage.wall)


def upload_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    with charged(tool.agents) as agent:
        before = bench.server_cpu()
        _, (usage,) = upload_processes([tool.upload], tool.env, [source])
        server_cpu = bench.server_cpu_since(before)
    result = Result(tool.name, "upload", source.length, usage, server_cpu, agent.usage)
    stored = object_size(bench, tool.key)
    if stored != source.length:
        raise BenchError(f"{tool.name} stored {stored} bytes at {tool.key}, not {source.length}")
    progress(f"  {tool.name} upload: {usage.wall:.2f} s")
    return result


def download_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    with charged(tool.agents) as agent:
        before = bench.server_cpu()
        _, (usage,) = download_processes([tool.download], tool.env, [source])
        server_cpu = bench.server_cpu_since(before)
    progress(f"  {tool.name} download: {usage.wall:.2f} s (verified)")
    return Result(tool.name, "download", source.length, usage, server_cpu, agent.usage)


def measure_tool(bench: Bench, tool: Tool, source: Slice) -> list[Result]:
    try:
        upload = best(lambda: upload_once(bench, tool, source), bench.options.repeat)
        download = best(lambda: download_once(bench, tool, source), bench.options.repeat)
    finally:
        delete_prefix(bench, tool.key)
    return [upload, download]


def run_singles(bench: Bench, tools: list[Tool], source: Slice) -> list[Result]:
    results: list[Result] = []
    for tool in tools:
        progress(f"{tool.name}:")
        results += measure_tool(bench, tool, source)
    return results
