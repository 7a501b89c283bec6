"""The segment-host mode: :data:`~bench.common.SEGMENTS` gps3async processes at once, as on one Greenplum host.

All ``backup_data`` processes run as one batch, then all ``restore_data``
processes; the harness times each batch from the first spawn until every
process is reaped and every stream drained and verified.  Rendered by
:func:`bench.report.segments_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import BIN, SEGMENT_SIZE, SEGMENTS, human, progress
from bench.data import segment_slices
from bench.measure import download_processes, upload_processes
from bench.server import delete_prefix
from bench.singles import server_cpu_since
from bench.tools import gpbackup_path, plugin_config

if TYPE_CHECKING:
    from pathlib import Path

    from bench.measure import Usage
    from bench.server import Bench


@dataclass(frozen=True)
class Batch:
    """Segment-host mode: every process of one direction, run at once."""

    direction: str
    nbytes: int
    wall: float
    usages: list[Usage]
    #: ``None`` when the server is not the run's own (``--endpoint``).
    server_cpu: float | None


def segment_tool(bench: Bench) -> tuple[list[list[str]], list[list[str]], str]:
    """The 8 backup_data and 8 restore_data command lines, and the folder they write under."""
    o = bench.options
    folder = "segments"
    config = plugin_config(bench, bench.home / "segments.yaml", folder, o.segment_chunk, o.segment_concurrency)
    plugin = str(BIN / "gpbackup_s3_plugin")
    paths = [gpbackup_path(content) for content in range(SEGMENTS)]
    backups = [[plugin, "backup_data", str(config), path] for path in paths]
    restores = [[plugin, "restore_data", str(config), path] for path in paths]
    return backups, restores, bench.target.key(folder + "/")


def run_segments(bench: Bench, data: Path) -> list[Batch]:
    sources = segment_slices(data, bench.options.size)
    backups, restores, prefix = segment_tool(bench)
    env, nbytes = bench.plugin_env(), sum(source.length for source in sources)
    progress(f"segment host: {SEGMENTS} x {human(SEGMENT_SIZE)}")
    try:
        before = bench.server_cpu()
        wall, usages = upload_processes(backups, env, sources)
        upload = Batch("upload", nbytes, wall, usages, server_cpu_since(bench, before))
        progress(f"  upload batch: {wall:.2f} s")
        before = bench.server_cpu()
        wall, usages = download_processes(restores, env, sources)
        download = Batch("download", nbytes, wall, usages, server_cpu_since(bench, before))
        progress(f"  download batch: {wall:.2f} s (verified)")
    finally:
        delete_prefix(bench, prefix)
    return [upload, download]
