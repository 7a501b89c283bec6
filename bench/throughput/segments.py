"""The segment-host mode: :data:`~bench.harness.common.SEGMENTS` gps3async processes at once, as on one Greenplum host.

All ``backup_data`` processes run as one batch, then all ``restore_data``
processes; the harness times each batch from the first spawn until every
process is reaped and every stream drained and verified.  Both batches run
twice: through the per-host agent (the default config), charged with the
agent's CPU and peak memory (:func:`bench.harness.agentstats.charged`, which warms it
first), and with ``agent: off``, each process doing its own transfer.
Rendered by :func:`bench.throughput.report_segments.segments_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.agentstats import charged
from bench.harness.common import SEGMENT_SIZE, SEGMENTS, human, progress
from bench.harness.data import segment_slices
from bench.harness.measure import download_processes, upload_processes
from bench.harness.server import delete_prefix
from bench.harness.tools import gpbackup_path, plugin_config

if TYPE_CHECKING:
    from pathlib import Path

    from bench.harness.agentstats import AgentHome, AgentUsage
    from bench.harness.data import Slice
    from bench.harness.measure import Usage
    from bench.harness.server import Bench

#: The two front doors, as the report names them: the ``agent`` option's value.
AGENT_MODES = ("on", "off")


@dataclass(frozen=True)
class Batch:
    """Segment-host mode: every process of one direction, run at once, with ``agent`` on or off."""

    mode: str
    direction: str
    nbytes: int
    wall: float
    usages: list[Usage]
    #: ``None`` when the server is not the run's own (``--endpoint``).
    server_cpu: float | None
    #: The agent's share of the batch; ``None`` with ``agent: off``.
    agent: AgentUsage | None = None

    @property
    def cpu(self) -> float:
        """All client-side CPU of the batch: every plugin process plus the agent that served them."""
        return sum(u.cpu for u in self.usages) + (self.agent.cpu if self.agent else 0.0)


@dataclass(frozen=True)
class SegmentTool:
    """The batch's command lines, the folder they write under, and the agent home (``None``: agent off)."""

    backups: list[list[str]]
    restores: list[list[str]]
    prefix: str
    env: dict[str, str]
    agents: AgentHome | None


def segment_tool(bench: Bench, mode: str) -> SegmentTool:
    """The 8 backup_data and 8 restore_data command lines with ``agent`` ``mode``, and where they write."""
    o = bench.options
    folder = "segments" if mode == "on" else f"segments-agent-{mode}"
    # agent "on" is the default: the config leaves the option out, as most users' configs will.
    extra = {} if mode == "on" else {"agent": mode}
    config = plugin_config(
        bench, bench.home / f"{folder}.yaml", folder, o.segment_chunk, o.segment_concurrency, **extra
    )
    plugin = bench.plugin.executable
    paths = [gpbackup_path(content) for content in range(SEGMENTS)]
    backups = [[plugin, "backup_data", str(config), path] for path in paths]
    restores = [[plugin, "restore_data", str(config), path] for path in paths]
    agents = bench.agent_home(folder, config) if mode == "on" else None
    env = agents.env if agents else bench.plugin_env()
    return SegmentTool(backups, restores, bench.target.key(folder + "/"), env, agents)


def run_mode(bench: Bench, sources: list[Slice], mode: str) -> list[Batch]:
    tool = segment_tool(bench, mode)
    nbytes = sum(source.length for source in sources)
    progress(f"segment host: {SEGMENTS} x {human(SEGMENT_SIZE)}, agent {mode}")
    try:
        with charged(tool.agents) as agent:
            before = bench.server_cpu()
            wall, usages = upload_processes(tool.backups, tool.env, sources)
            server_cpu = bench.server_cpu_since(before)
        upload = Batch(mode, "upload", nbytes, wall, usages, server_cpu, agent.usage)
        progress(f"  upload batch: {wall:.2f} s")
        with charged(tool.agents) as agent:
            before = bench.server_cpu()
            wall, usages = download_processes(tool.restores, tool.env, sources)
            server_cpu = bench.server_cpu_since(before)
        download = Batch(mode, "download", nbytes, wall, usages, server_cpu, agent.usage)
        progress(f"  download batch: {wall:.2f} s (verified)")
    finally:
        delete_prefix(bench, tool.prefix)
    return [upload, download]


def run_segments(bench: Bench, data: Path) -> list[Batch]:
    sources = segment_slices(data, bench.options.size)
    return [batch for mode in AGENT_MODES for batch in run_mode(bench, sources, mode)]
