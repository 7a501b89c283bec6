"""``docs/benchmarks.md``: the page around the result sections (intro, method, machine, command lines)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from bench.common import BIN
from bench.report import results_text, table

if TYPE_CHECKING:
    from bench.report import Report

METHOD = """\
Every tool uploads the same incompressible file from **stdin** and downloads it back to **stdout**,
as gpbackup drives its storage plugin.  The harness splices the page-cached file into a pipe on the
tool's stdin, and reads the tool's stdout from a pipe, keeping only the byte count and a CRC-32 that
must equal the source's (every transfer is verified; after each upload the object's size is checked
too).  All tools use the same part size and requests in flight, and talk to one
`rclone serve s3` on 127.0.0.1 in fast mode (`--etag-hash ''`, `--no-checksum`, `--ignore-checksum`),
whose objects live in `/dev/shm` when it has room.  Server, tools and harness share the machine's CPUs.

- **wall s**: from spawning the tool to reaping it, so start-up is included.
- **client CPU s**, **peak RSS**: user+sys time and `ru_maxrss` of the tool's process from `os.wait4`.
  Each tool is started by a tiny launcher, `bench/launch.py` (a bare `python -I -S`), rather than by
  the harness, because a child's `ru_maxrss` starts from its parent's high-water mark.  The launcher's
  ~9 MiB is therefore the floor of the RSS column; the harness's own reading and checksumming is in
  neither number.
- **MB/s**: decimal megabytes per wall second.  **x fastest peer**: wall time over the fastest of
  s5cmd, aws s3 cp and rclone in that direction.
- **server CPU s**: CPU the S3 server spent during the transfer, from `/proc`.
- Segment-host mode: the batch's wall time is measured by the harness, from the first spawn until
  every process is reaped and every stream drained."""


OTHER_STORE = """\
## On your own S3 store

The same comparison runs against any S3 store, MinIO, Ceph or AWS, instead of the local server:

```sh
export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   # and AWS_SESSION_TOKEN for temporary keys
python -m bench.run --endpoint https://minio.example.internal:9000 --bucket gpdb-backup --prefix gps3async-bench
make bench ENDPOINT=https://minio.example.internal:9000 BUCKET=gpdb-backup PREFIX=gps3async-bench
```

**The run writes and deletes objects under the prefix** (about `--size` per tool, and 8 x 256 MiB in
segment-host mode; each is deleted after it is measured), so give a prefix nothing else uses: the
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
