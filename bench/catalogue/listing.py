"""``list`` of a folder holding many backup sets: one listing and one config read per set.

``python -m bench.catalogue.listing [--sets N] [--repeat R]`` starts the local
server, writes N backup sets with boto3 (each as gpbackup leaves a two-segment
per-table backup: config, TOC, metadata, report, plugin config and two data
files, so seven objects a set), then times ``list`` and ``list --json``
through the agent (the agent's CPU charged to the call) and ``list``
in-process, each the fastest of R runs, and prints one markdown table
(``make bench`` has it as a section of its own).  The agent's warm-up
leaves one more set (one data object, no config): the listing shows N+1
sets, one incomplete.  The folder is removed afterwards.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import yaml

from bench.harness.agentstats import charged
from bench.harness.common import WORK, BenchError, progress
from bench.harness.measure import Usage
from bench.harness.server import running_server
from bench.harness.tables import table
from bench.harness.tools import gps3async_tool, plugin_config
from bench.options import parse_args

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from bench.harness.server import Bench
    from bench.harness.tools import Tool
    from bench.results import Report

FOLDER = "catalogue"
#: The sets ``make bench`` lists.
CATALOGUE_SETS = 1000
HEADERS = ["call", "sets", "objects", "wall s", "client CPU s"]


def set_files(timestamp: str) -> dict[str, bytes]:
    """The objects of one two-segment, one-table backup set of database ``bench``."""
    config = {
        "backupdir": "", "backupversion": "1.30.5", "compressed": True, "compressiontype": "gzip",
        "databasename": "bench", "databaseversion": "7.1.0", "segmentcount": 2, "dataonly": False,
        "incremental": False, "metadataonly": False, "plugin": "gpbackup_s3_plugin", "pluginversion": "",
        "restoreplan": [{"timestamp": timestamp, "tablefqns": ["public.bench"]}], "singledatafile": False,
        "timestamp": timestamp, "endtime": timestamp, "withoutglobals": False, "withstatistics": False,
        "status": "Success", "includerelations": [], "excluderelations": [], "includeschemas": [],
        "excludeschemas": [], "leafpartitiondata": False, "datedeleted": "",
    }  # fmt: skip
    entry = {"schema": "public", "name": "bench", "oid": 16384, "attributestring": "(a)", "rowscopied": 1,
             "partitionroot": "", "isreplicated": False, "distbyenum": False}  # fmt: skip
    files = {
        f"gpbackup_{timestamp}_config.yaml": yaml.safe_dump(config).encode(),
        f"gpbackup_{timestamp}_toc.yaml": yaml.safe_dump({"dataentries": [entry]}).encode(),
        f"gpbackup_{timestamp}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
        f"gpbackup_{timestamp}_report": b"Backup Report\n",
        f"gpbackup_{timestamp}_plugin_config.yaml": b"executablepath: /usr/local/bin/gpbackup_s3_plugin\n",
    }
    files |= {f"gpbackup_{content}_{timestamp}_16384.gz": b"\x1f\x8b" + b"x" * 100 for content in (0, 1)}
    return files


def write_sets(bench: Bench, count: int) -> list[str]:
    """``count`` sets an hour apart; the timestamps, oldest first."""
    start = datetime(2024, 1, 1)
    stamps = [(start + timedelta(hours=n)).strftime("%Y%m%d%H%M%S") for n in range(count)]
    client, bucket = bench.client, bench.target.bucket

    def put(timestamp: str) -> None:
        for name, body in set_files(timestamp).items():
            key = bench.target.key(f"{FOLDER}/backups/{timestamp[:8]}/{timestamp}/{name}")
            client.put_object(Bucket=bucket, Key=key, Body=body)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, stamps))
    return stamps


def timed(argv: list[str], env: dict[str, str], tool: Tool | None, expected: str) -> tuple[Usage, float]:
    """One call: its usage (the agent's CPU added when ``tool`` has one)."""
    with charged(tool.agents if tool else None) as agent:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, timeout=600, check=False)
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode or done.stderr or expected not in done.stdout.decode():
        raise BenchError(f"{argv[1:2]} exited {done.returncode}: {done.stderr.decode()[-2000:]} {done.stdout[-300:]!r}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    agent_cpu = agent.usage.cpu if tool is not None and agent.usage is not None else 0.0
    return Usage(wall, cpu, after.ru_maxrss * 1024), cpu + agent_cpu


def run_catalogue(bench: Bench, count: int, repeat: int) -> list[list[str]]:
    tool = gps3async_tool(bench, folder=FOLDER)
    in_process = plugin_config(bench, bench.home / "catalogue-in-process.yaml", FOLDER, None, None, agent="off")
    progress(f"list: writing {count} backup sets ({count * 7} objects)")
    started = time.monotonic()
    try:
        write_sets(bench, count)
        progress(f"  written in {time.monotonic() - started:.1f} s")
        return timed_lists(tool, in_process, count, repeat)
    finally:
        remove_folder(bench)


def remove_folder(bench: Bench) -> None:
    """Everything under the folder, 1,000 keys a request."""
    client, bucket, root = bench.client, bench.target.bucket, bench.target.key(FOLDER + "/")
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        doomed = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if doomed:
            client.delete_objects(Bucket=bucket, Delete={"Objects": doomed, "Quiet": True})


def timed_lists(tool: Tool, in_process: Path, count: int, repeat: int) -> list[list[str]]:
    plugin, _, config, _ = tool.download
    runs: list[tuple[str, list[str], Tool | None, str]] = [
        ("list (agent)", [plugin, "list", config], tool, " incomplete or unknown; "),
        ("list --json (agent)", [plugin, "list", config, "--json"], tool, '"schema": 1'),
        ("list (in-process)", [plugin, "list", str(in_process)], None, " incomplete or unknown; "),
    ]
    rows = []
    for what, argv, agent_tool, expected in runs:
        results = [timed(argv, tool.env, agent_tool, expected) for _ in range(repeat)]
        usage, cpu = min(results, key=lambda r: r[0].wall)
        progress(f"  {what}: {usage.wall:.2f} s wall, {cpu:.2f} s CPU")
        rows.append([what, str(count), str(count * 7), f"{usage.wall:.2f}", f"{cpu:.2f}"])
    return rows


def catalogue_section(report: Report) -> list[str]:
    title = f"## list of {CATALOGUE_SETS:,} backup sets"
    if not report.catalogue:
        return [title, "", "Not run (`--skip-catalogue` or a `--*-only` option)."]
    return [
        title,
        "",
        f"`gpbackup_s3_plugin list` of a folder holding {CATALOGUE_SETS:,} two-segment backup sets (seven objects"
        " each, written with boto3): one listing of the folder, one GET of each set's config (16 at a time), one"
        " listing of the open uploads. *Client CPU* is the call's plus, through the agent, the agent's. Each the"
        " fastest of `--repeat` runs.",
        "",
        table(HEADERS, report.catalogue),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sets", type=int, default=CATALOGUE_SETS)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    WORK.mkdir(exist_ok=True)  # the server's log lives there
    try:
        with running_server(parse_args([])) as bench:
            rows = run_catalogue(bench, args.sets, args.repeat)
    except BenchError as err:
        progress(f"benchmark failed: {err}")
        return 1
    print(table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
