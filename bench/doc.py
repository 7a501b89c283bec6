"""``docs/benchmarks.md``: the page around the result sections (intro, method, machine, command lines)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from bench.harness.common import BIN
from bench.harness.tables import table
from bench.report import results_text

if TYPE_CHECKING:
    from bench.results import Report

METHOD = """\
Every tool uploads the same incompressible file from **stdin** and downloads it back to **stdout**,
as gpbackup drives its storage plugin.  The harness splices the page-cached file into a pipe on the
tool's stdin, and reads the tool's stdout from a pipe, keeping only the byte count and a CRC-32 that
must equal the source's (every transfer is verified; after each upload the object's size is checked
too).  All tools use the same part size and requests in flight, and talk to one
`rclone serve s3` on 127.0.0.1 in fast mode (`--etag-hash ''`, `--no-checksum`, `--ignore-checksum`),
whose objects live in `/dev/shm` when it has room.  Server, tools and harness share the machine's CPUs.

- **wall s**: from spawning the tool to reaping it, so the tool's start-up is included (for gps3async,
  the thin client's; the agent is already running, see below).
- **client CPU s**, **peak RSS**: user+sys time and `ru_maxrss` of the tool's process from `os.wait4`,
  plus, for gps3async through its agent, the agent's share (below).
  Each tool is started by a tiny launcher, `bench/harness/launch.py` (a bare `python -I -S`), rather than by
  the harness, because a child's `ru_maxrss` starts from its parent's high-water mark.  The launcher's
  ~9 MiB is therefore the floor of the RSS column; the harness's own reading and checksumming is in
  neither number.
- **MB/s**: decimal megabytes per wall second.  **x fastest peer**: wall time over the fastest of
  s5cmd, aws s3 cp and rclone in that direction.
- **server CPU s**: CPU the S3 server spent during the transfer, from `/proc`.
- Segment-host mode: the batch's wall time is measured by the harness, from the first spawn until
  every process is reaped and every stream drained.

**Charging the agent.**  By default (`agent: on`) `gpbackup_s3_plugin` is a thin client that hands its
stdin, stdout and stderr to a long-lived per-host `gps3async-agent` process, which does the S3 work.
`os.wait4` sees only the thin client, so every gps3async figure here also charges the agent's CPU and
memory for the transfers it serves (`bench/harness/agentstats.py`):

- every plugin call the harness makes runs with `XDG_RUNTIME_DIR` set to a fresh directory under
  `.bench/` (one per config), so the agents found through the pid files there are the benchmark's
  own, and each serves only the measurement's calls;
- before each measurement the harness makes one tiny call (a 1 KiB `backup_data`) with the measured
  config, so the agent is running, its S3 client made and its connections open: **the agent's start-up
  is not in these numbers** (a real backup pays it once per host, on its first plugin call).  It then
  waits until the agent has released the part buffers it keeps between calls (it trims them after a
  few idle seconds), so each measurement starts from an idle agent (**agent idle RSS MiB**);
- **agent CPU** is the agent's utime+stime (`/proc/PID/stat`) after the measurement minus before it;
  **agent peak RSS** is its `VmHWM` (`/proc/PID/status`) after the measurement, reset to its current
  RSS just before it by writing `5` to `/proc/PID/clear_refs`.  An agent that exits or is replaced
  during a measurement fails the run;
- gps3async's **client CPU s** is the thin client's CPU plus the agent's, and its **peak RSS MiB** in
  the single-stream table is the agent's peak plus the thin client's; the split is shown beside each
  table.  The agent is held to the plugin's memory bound, chunk x (concurrency + 1) + 80 MiB for every
  stream it serves at once (8 in segment-host mode), and the thin client to 15 MiB;
- the agents are stopped (SIGTERM, then waited for) when the run ends.

**Per invocation.**  gpbackup starts one plugin process per table and segment, so for small tables the
cost of one call is what matters.  That table times many sequential 1 KiB calls one by one (median and
p95 of each call's wall time under the launcher, own CPU, the agent's CPU charged per call, peak RSS)
through a warm agent from each entry point users install: the native client pip compiles
(`gpbackup_s3_plugin`, when it is a compiled program), the Python client it falls back to
(`gpbackup_s3_plugin_python`) and the launcher `make deploy` writes; with `--go-plugin PATH`, the Go
plugin's calls in the same run, in five blocks alternating with the native client's (the two the goal
compares, so the machine's drift hits both alike), and each median over the Go plugin's for the same
verb (issue 27's goal: the native client at most 0.6x).  Then, through the native client, the same calls with
`agent: off`, 64 calls started at once through the agent, where every call must succeed, and a few
calls that each find no agent and start one: the start-up cost the warm-up keeps out of every other
figure.  With `--greenplum-path FILE` (`make bench GREENPLUM_PATH=...`) every call, ours and the Go
plugin's, runs as gprestore makes it, `bash -c "source FILE && exec PLUGIN ..."`, and a floor row
times `bash -c "source FILE && true"`, what no plugin called that way can go under; without it the
calls are exec'd directly and the section says so."""


OTHER_STORE = """\
## On your own S3 store

The same comparison runs against any S3 store, MinIO, Ceph or AWS, instead of the local server:

```sh
export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   # and AWS_SESSION_TOKEN for temporary keys
python -m bench.run --endpoint https://minio.example.internal:9000 --bucket gpdb-backup --prefix gps3async-bench
make bench ENDPOINT=https://minio.example.internal:9000 BUCKET=gpdb-backup S3_PREFIX=gps3async-bench
```

**The run writes and deletes objects under the prefix** (about `--size` per tool, 8 x 256 MiB in
segment-host mode, 1 KiB objects in the invocation series; all deleted again), so give a prefix nothing else uses: the
harness refuses to start when anything is listed under it. The bucket must exist. Credentials come
only from the environment (the plugin's config refers to them as `${AWS_ACCESS_KEY_ID}`...), the
region from `--region`, `AWS_REGION` or `us-east-1`, and every tool uses path-style addressing (a
store whose certificate comes from a private CA needs that CA trusted system-wide, for all four tools).
Server CPU is shown as `n/a` (the server is not on this machine), and the run prints its tables
without rewriting this page unless given `--write-doc`. Network latency and bandwidth to the store
now dominate: raise `--concurrency` and `--chunk` to see what the link can carry, and compare with
the suggestions of `gpbackup_s3_plugin check`."""


def shown(argv: list[str], report: Report) -> str:
    """A command line as the doc shows it: no port, scratch path or virtualenv path that differ per run."""
    text = shlex.join(argv)
    if not report.remote:
        text = text.replace(report.endpoint, "http://127.0.0.1:$PORT")
    return text.replace(str(report.home), "$TMP").replace(str(BIN) + "/", "")


def commands_section(report: Report) -> list[str]:
    lines = ["## Command lines", "", "Endpoint and scratch directory shown as `$PORT` and `$TMP`.", ""]
    for tool in report.tools:
        lines += [f"- **{tool.name}**: {tool.notes}", "", "  ```sh"]
        lines += [f"  {shown(tool.upload, report)}  < data", f"  {shown(tool.download, report)}  > pipe", "  ```", ""]
    return lines


def render_doc(report: Report) -> str:
    o = report.options
    run = shlex.join(["python", "-m", "bench.run", *o.argv])
    intro = [
        "# Benchmarks",
        "",
        "gps3async (this plugin) against the usual S3 streaming clients, on one machine and "
        + (f"the S3 store at {report.endpoint}." if report.remote else "a local S3 server."),
        "",
        "Reproduce with `make bench`, which runs `python -m bench.run`; this page was written by",
        f"`{run}` on {report.date}" + (f", best of {o.repeat} runs." if o.repeat > 1 else ", one run each."),
        "`python -m bench.run --help` lists the options.",
        "",
        OTHER_STORE,
        "",
        "## Method",
        "",
        METHOD,
        "",
        "## Machine",
        "",
        table(["", ""], [list(pair) for pair in report.machine]),
        "",
    ]
    return "\n".join([*intro, results_text(report), *commands_section(report)]).rstrip() + "\n"
