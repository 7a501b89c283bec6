"""The single-stream comparison: every :data:`~bench.tools.TOOLS` client uploads and downloads one object.

Each direction runs ``--repeat`` times and keeps the fastest; every upload's
stored size and every download's bytes are verified.  Rendered by
:func:`bench.report.singles_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import BenchError, progress
from bench.measure import download_processes, upload_processes
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
    #: ``None`` when the server is not the run's own (``--endpoint``).
    server_cpu: float | None


def best(run: Callable[[], Result], repeat: int) -> Result:
    return min((run() for _ in range(repeat)), key=lambda result: result.usage.wall)


def server_cpu_since(bench: Bench, before: float | None) -> float | None:
    after = bench.server_cpu()
    return None if before is None or after is None else after - before


def upload_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = upload_processes([tool.upload], tool.env, [source])
    result = Result(tool.name, "upload", source.length, usage, server_cpu_since(bench, before))
    stored = object_size(bench, tool.key)
    if stored != source.length:
        raise BenchError(f"{tool.name} stored {stored} bytes at {tool.key}, not {source.length}")
    progress(f"  {tool.name} upload: {usage.wall:.2f} s")
    return result


def download_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = download_processes([tool.download], tool.env, [source])
    progress(f"  {tool.name} download: {usage.wall:.2f} s (verified)")
    return Result(tool.name, "download", source.length, usage, server_cpu_since(bench, before))


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
