"""``verify --deep`` of a backup set against a plain restore of the same backup.

The harness writes a one-segment ``--single-data-file`` backup set through the
plugin's own verbs, as gpbackup would: the data file (``--size`` bytes of the
incompressible data, ``backup_data``) and the coordinator's config, TOC,
metadata, report and plugin config plus the segment TOC (``backup_file``).
Then, each the fastest of ``--repeat`` runs through the agent, with the
agent's CPU charged to the call:

- **restore_data**: the data file restored to a pipe the harness drains and
  verifies (what gprestore costs to read the same backup);
- **verify --deep**: the whole set listed, every object's record checked and
  every byte read back and checked.

Rendered by :func:`bench.integrity.report_verify.verify_section`.
"""

from __future__ import annotations

import resource
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bench.harness.agentstats import charged
from bench.harness.common import BenchError, progress
from bench.harness.measure import Usage, download_processes, timeout_for, upload_processes
from bench.harness.server import delete_prefix
from bench.harness.tools import TIMESTAMP, gpbackup_path, gps3async_tool

if TYPE_CHECKING:
    from bench.harness.agentstats import AgentUsage
    from bench.harness.data import Slice
    from bench.harness.server import Bench
    from bench.harness.tools import Tool


@dataclass(frozen=True)
class VerifyResult:
    """One measured call: ``what`` is "restore_data" or "verify --deep"; ``agent`` the agent's share."""

    what: str
    nbytes: int
    usage: Usage
    agent: AgentUsage | None = None

    @property
    def cpu(self) -> float:
        return self.usage.cpu + (self.agent.cpu if self.agent else 0.0)


def coordinator_files(tool: Tool, nbytes: int) -> dict[str, bytes]:
    """The coordinator's files and the segment TOC of a one-table, one-segment single-data-file backup."""
    ts = TIMESTAMP
    config = {
        "backupdir": "", "backupversion": "1.30.5", "compressed": False, "compressiontype": "",
        "databasename": "bench", "databaseversion": "7.1.0", "segmentcount": 1, "dataonly": False,
        "incremental": False, "metadataonly": False, "plugin": "gpbackup_s3_plugin", "pluginversion": "",
        "restoreplan": [{"timestamp": ts, "tablefqns": ["public.bench"]}], "singledatafile": True,
        "timestamp": ts, "endtime": ts, "withoutglobals": False, "withstatistics": False, "status": "Success",
    }  # fmt: skip
    entry = {"schema": "public", "name": "bench", "oid": 16384, "attributestring": "(a)", "rowscopied": 1,
             "partitionroot": "", "isreplicated": False, "distbyenum": False}  # fmt: skip
    return {
        f"gpbackup_{ts}_config.yaml": yaml.safe_dump(config).encode(),
        f"gpbackup_{ts}_toc.yaml": yaml.safe_dump({"dataentries": [entry]}).encode(),
        f"gpbackup_{ts}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
        f"gpbackup_{ts}_report": b"Backup Report\n",
        f"gpbackup_{ts}_plugin_config.yaml": Path(tool.download[2]).read_bytes(),
        f"gpbackup_0_{ts}_toc.yaml": yaml.safe_dump(
            {"dataentries": {16384: {"startbyte": 0, "endbyte": nbytes}}}
        ).encode(),
    }


def write_backup_set(bench: Bench, tool: Tool, source: Slice) -> None:
    upload_processes([tool.upload], tool.env, [source])
    local = bench.home / "verify-set" / gpbackup_path(0).lstrip("/").rsplit("/", 1)[0]
    local.mkdir(parents=True, exist_ok=True)
    plugin, _, config, _ = tool.download
    for name, body in coordinator_files(tool, source.length).items():
        (local / name).write_bytes(body)
        done = subprocess.run([plugin, "backup_file", config, str(local / name)], env=tool.env, capture_output=True,
                              timeout=120, check=False)  # fmt: skip
        if done.returncode or done.stderr:
            raise BenchError(f"backup_file {name} exited {done.returncode}: {done.stderr.decode()[-2000:]}")


def timed_verify(tool: Tool, nbytes: int) -> tuple[Usage, AgentUsage | None]:
    """One ``verify --deep`` of the set: wall and CPU of the call (its process and reaped children) and its agent's."""
    plugin, _, config, _ = tool.download
    argv = [plugin, "verify", config, TIMESTAMP, "--deep"]
    with charged(tool.agents) as agent:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(argv, env=tool.env, capture_output=True, timeout=timeout_for(nbytes), check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode or done.stderr:
        raise BenchError(f"verify --deep exited {done.returncode}: {done.stderr.decode()[-2000:]}")
    summary = done.stdout.decode().strip().splitlines()[-1]
    if " 0 unchecked, 0 problems" not in summary:
        raise BenchError(f"verify --deep did not check everything: {summary}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Usage(wall, cpu, after.ru_maxrss * 1024), agent.usage


def run_verify(bench: Bench, source: Slice) -> list[VerifyResult]:
    """Write the backup set, then time a plain restore of its data file and a ``verify --deep`` of the set."""
    tool = gps3async_tool(bench, folder="verify")
    progress(f"verify --deep against restore_data: a backup set of {source.length} data bytes")
    try:
        write_backup_set(bench, tool, source)
        restores, verifies = [], []
        for _ in range(bench.options.repeat):
            with charged(tool.agents) as agent:
                _, (usage,) = download_processes([tool.download], tool.env, [source])
            restores.append(VerifyResult("restore_data", source.length, usage, agent.usage))
            progress(f"  restore_data: {usage.wall:.2f} s (verified)")
            usage, agent_usage = timed_verify(tool, source.length)
            verifies.append(VerifyResult("verify --deep", source.length, usage, agent_usage))
            progress(f"  verify --deep: {usage.wall:.2f} s")
    finally:
        delete_prefix(bench, tool.key.rsplit("/", 4)[0] + "/")
    return [min(restores, key=lambda r: r.usage.wall), min(verifies, key=lambda r: r.usage.wall)]
