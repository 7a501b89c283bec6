"""The benchmark harness: gps3async against s5cmd, ``aws s3 cp`` and rclone on one local S3 server.

It owns everything a benchmark run needs: the incompressible test data under
``.bench/``, one ``rclone serve s3`` (fast mode) for the whole run, the command
line of every tool, feeding each tool's stdin through a pipe and draining its
stdout through a pipe, the measurements (wall time, and client CPU time and
peak RSS from ``os.wait4`` in :mod:`bench.launch`), verification of every
transfer, the result tables and ``docs/benchmarks.md``.

Usage: ``python -m bench.run [--size 1GiB] [--chunk 8MiB] [--concurrency 4]
[--repeat N] [--segments-only | --skip-segments] [--no-write-doc]``.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from bench.common import BIN, DOC, GIB, KIB, MB, MIB, REPO, SEGMENT_SIZE, SEGMENTS, WORK, BenchError, human, progress
from bench.data import Slice, ensure_data, make_slice, segment_slices
from bench.options import Options, parse_args
from gps3async.config import DEFAULT_CHUNKSIZE, DEFAULT_CONCURRENCY
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Server, make_client, start_rclone, write_plugin_config

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence


LAUNCHER = Path(__file__).resolve().with_name("launch.py")
BUCKET = "bench"
RCLONE_REMOTE = "benchs3"
TIMESTAMP = "20261126000000"
#: The harness reads the tools' stdout in reads of at most this (a pipe gives 64 KiB at a time).
READ_BLOCK = 1 * MIB
#: gps3async's documented memory bound is chunk x (concurrency + 1) plus this.
RSS_ALLOWANCE = 80 * MIB
PEERS = ("s5cmd", "aws s3 cp", "rclone")
DIRECTIONS = ("upload", "download")


# ---------------------------------------------------------------------------
# Processes: spawn, feed stdin, drain stdout, reap with rusage


@dataclass(frozen=True)
class Usage:
    """One tool process: wall seconds, user+sys CPU seconds (with reaped children), peak RSS bytes."""

    wall: float
    cpu: float
    max_rss: int


@dataclass
class Child:
    """A tool running under ``bench/launch.py``, which reports its usage on ``report``."""

    argv: list[str]
    process: subprocess.Popen[bytes]
    stderr: IO[bytes]
    report: int
    watchdog: threading.Timer


@dataclass
class Drained:
    """What came out of a tool's stdout: byte count and running CRC-32."""

    nbytes: int = 0
    crc: int = 0


def timeout_for(nbytes: int) -> float:
    """A generous safety net (2 MB/s plus two minutes) so a hung tool cannot hang the run."""
    return 120 + nbytes / (2 * MB)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def spawn(argv: list[str], env: dict[str, str], *, stdin: int, stdout: int, timeout: float) -> Child:
    """Start ``argv`` under the launcher (see ``bench/launch.py`` for why) in its own process group."""
    stderr = tempfile.TemporaryFile()
    report, report_end = os.pipe()
    command = [sys.executable, "-I", "-S", str(LAUNCHER), str(report_end), *argv]
    process = subprocess.Popen(
        command, stdin=stdin, stdout=stdout, stderr=stderr, env=env, pass_fds=(report_end,), start_new_session=True
    )
    os.close(report_end)
    watchdog = threading.Timer(timeout, kill_group, (process,))
    watchdog.daemon = True
    watchdog.start()
    return Child(argv, process, stderr, report, watchdog)


def reap(child: Child) -> Usage:
    """Wait for the launcher and return the tool's usage as the launcher measured it with ``wait4``."""
    code = child.process.wait()
    child.watchdog.cancel()
    with os.fdopen(child.report, "rb") as report:
        fields = report.read().split()
    child.stderr.seek(0)
    errors = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if code != 0 or len(fields) != 4:
        raise BenchError(f"{shlex.join(child.argv)} exited {code}:\n{errors[-3000:]}")
    wall, cpu, max_rss_kib = float(fields[0]), float(fields[1]), int(fields[2])
    return Usage(wall, cpu, max_rss_kib * KIB)


def feed(source: Slice, pipe: int) -> None:
    """Copy ``source`` into ``pipe`` with splice(2) (no copy through this process), then close it."""
    try:
        with source.path.open("rb") as data:
            offset, end = source.offset, source.offset + source.length
            while offset < end:
                sent = os.splice(data.fileno(), pipe, end - offset, offset_src=offset)
                if sent == 0:
                    raise BenchError(f"{source.path} ended early")
                offset += sent
    except BrokenPipeError:
        pass  # the tool exited early; reap() says why
    finally:
        os.close(pipe)


def drain(pipe: int, into: Drained) -> None:
    """Read ``pipe`` to EOF, keeping only the length and CRC-32, then close it."""
    buffer = bytearray(READ_BLOCK)
    view = memoryview(buffer)
    try:
        while count := os.readv(pipe, [buffer]):
            into.crc = zlib.crc32(view[:count], into.crc)
            into.nbytes += count
    finally:
        os.close(pipe)


def start_thread(target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def upload_processes(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Usage]]:
    """Run the uploads at once, each reading its slice from a pipe on stdin: batch wall and usages."""
    started = time.perf_counter()
    children, feeders = [], []
    for argv, source in zip(argvs, sources):
        read_end, write_end = os.pipe()
        children.append(spawn(argv, env, stdin=read_end, stdout=subprocess.DEVNULL, timeout=timeout_for(source.length)))
        os.close(read_end)
        feeders.append(start_thread(feed, source, write_end))
    for feeder in feeders:
        feeder.join()
    usages = [reap(child) for child in children]
    return time.perf_counter() - started, usages


def download_processes(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Usage]]:
    """Run the downloads at once, each writing to a pipe this process drains; verify every stream."""
    started = time.perf_counter()
    children, drainers, outputs = [], [], []
    for argv, source in zip(argvs, sources):
        read_end, write_end = os.pipe()
        children.append(
            spawn(argv, env, stdin=subprocess.DEVNULL, stdout=write_end, timeout=timeout_for(source.length))
        )
        os.close(write_end)
        outputs.append(Drained())
        drainers.append(start_thread(drain, read_end, outputs[-1]))
    for drainer in drainers:
        drainer.join()
    usages = [reap(child) for child in children]
    wall = time.perf_counter() - started
    for argv, source, output in zip(argvs, sources, outputs):
        verify(argv, output, source)
    return wall, usages


def verify(argv: list[str], output: Drained, source: Slice) -> None:
    if (output.nbytes, output.crc) != (source.length, source.crc):
        raise BenchError(
            f"{shlex.join(argv)} returned {output.nbytes} bytes with CRC-32 {output.crc:08x};"
            f" expected {source.length} bytes with CRC-32 {source.crc:08x}"
        )


def cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a running process, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------
# The S3 server and the tools


@dataclass
class Bench:
    """The running server, a boto3 client for it, a scratch HOME for every tool and the plugin's code."""

    server: S3Server
    client: Any
    home: Path
    options: Options
    plugin: PluginCode

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no user config, proxies or credentials leak into a tool."""
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra,
        }

    def plugin_env(self) -> dict[str, str]:
        return self.env(**self.plugin.env)

    def server_cpu(self) -> float:
        return cpu_seconds(self.server.process.pid)


@dataclass(frozen=True)
class PluginCode:
    """Which gps3async the plugin processes run, and the environment that selects it."""

    description: str
    env: dict[str, str]


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def plugin_code(rev: str | None, into: Path) -> PluginCode:
    """The installed working tree, or ``gps3async/`` as committed at ``rev`` exported into ``into``."""
    if rev is None:
        dirty = " with uncommitted changes" if git("status", "--porcelain", "--", "gps3async") else ""
        return PluginCode(f"working tree at {git('rev-parse', '--short', 'HEAD')}{dirty}", {})
    commit = git("rev-parse", "--short", f"{rev}^{{commit}}")
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "gps3async"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return PluginCode(f"commit {commit} (`--plugin-rev {rev}`)", {"PYTHONPATH": str(into)})


def server_parent(options: Options) -> Path:
    """Keep the server's objects in RAM (``/dev/shm``) when there is room, so disk writeback adds no noise."""
    needed = 2 * max(options.size, SEGMENTS * SEGMENT_SIZE)
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > needed:
        return shm
    return WORK


@contextmanager
def running_server(options: Options) -> Iterator[Bench]:
    root = Path(tempfile.mkdtemp(prefix="gps3async-bench-", dir=server_parent(options)))
    home = Path(tempfile.mkdtemp(prefix="gps3async-bench-home-"))
    log = WORK / "rclone-serve.log"
    log.unlink(missing_ok=True)
    server = start_rclone(root / "s3", fast=True, log_path=log)
    try:
        client = make_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        yield Bench(server, client, home, options, plugin_code(options.plugin_rev, home / "plugin"))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def delete_prefix(client: Any, prefix: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def object_size(client: Any, key: str) -> int:
    return int(client.head_object(Bucket=BUCKET, Key=key)["ContentLength"])


@dataclass(frozen=True)
class Tool:
    """How one client uploads stdin to ``key`` and downloads ``key`` to stdout."""

    name: str
    upload: list[str]
    download: list[str]
    env: dict[str, str]
    key: str
    notes: str = ""


def gpbackup_path(content: int) -> str:
    return f"/x/backups/{TIMESTAMP[:8]}/{TIMESTAMP}/gpbackup_{content}_{TIMESTAMP}"


def plugin_config(path: Path, endpoint: str, folder: str, chunk: int | None, concurrency: int | None) -> Path:
    """A plugin YAML; a ``None`` size or concurrency leaves the key out so the plugin's default applies."""
    options: dict[str, object] = {}
    for verb in ("backup", "restore"):
        options[f"{verb}_multipart_chunksize"] = None if chunk is None else f"{chunk // MIB}MB"  # MB means MiB
        options[f"{verb}_max_concurrent_requests"] = concurrency
    return write_plugin_config(path, str(BIN / "gpbackup_s3_plugin"), endpoint, BUCKET, folder, **options)


def aws_credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
    }


def gps3async_tool(bench: Bench) -> Tool:
    o = bench.options
    config = plugin_config(bench.home / "gps3async.yaml", bench.server.endpoint, "gps3async", o.chunk, o.concurrency)
    plugin, path = str(BIN / "gpbackup_s3_plugin"), gpbackup_path(0)
    return Tool(
        "gps3async",
        [plugin, "backup_data", str(config), path],
        [plugin, "restore_data", str(config), path],
        bench.plugin_env(),
        "gps3async/" + "/".join(path.split("/")[-4:]),
        "part size and concurrency from the YAML (`*_multipart_chunksize`, `*_max_concurrent_requests`)",
    )


def s5cmd_tool(bench: Bench) -> Tool:
    o = bench.options
    base = [str(BIN / "s5cmd"), "--endpoint-url", bench.server.endpoint]
    sized = ["-c", str(o.concurrency), "-p", str(o.chunk // MIB)]
    key = "s5cmd/object"
    url = f"s3://{BUCKET}/{key}"
    return Tool(
        "s5cmd",
        [*base, "pipe", *sized, url],
        [*base, "cat", *sized, url],
        bench.env(**aws_credentials()),
        key,
        "credentials and region from `AWS_*` variables",
    )


def aws_tool(bench: Bench) -> Tool:
    o = bench.options
    config = bench.home / "aws-config"
    config.write_text(
        f"[default]\nregion = {REGION}\ns3 =\n"
        f"  multipart_chunksize = {o.chunk // MIB}MB\n"
        f"  max_concurrent_requests = {o.concurrency}\n"
        "  addressing_style = path\n"
    )
    base = [str(BIN / "aws"), "--endpoint-url", bench.server.endpoint, "s3", "cp"]
    key = "aws/object"
    url = f"s3://{BUCKET}/{key}"
    env = bench.env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=os.devnull, **aws_credentials())
    return Tool(
        "aws s3 cp",
        [*base, "-", url],
        [*base, url, "-"],
        env,
        key,
        f"`AWS_CONFIG_FILE`: `[default]` `s3 =` multipart_chunksize = {o.chunk // MIB}MB (MiB),"
        f" max_concurrent_requests = {o.concurrency}, addressing_style = path",
    )


def rclone_tool(bench: Bench) -> Tool:
    o = bench.options
    prefix = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENDPOINT": bench.server.endpoint,
        "ACCESS_KEY_ID": ACCESS_KEY,
        "SECRET_ACCESS_KEY": SECRET_KEY,
        "REGION": REGION,
        "FORCE_PATH_STYLE": "true",
    }
    base = [str(BIN / "rclone"), "--config", os.devnull]
    key = "rclone/object"
    target = f"{RCLONE_REMOTE}:{BUCKET}/{key}"
    sized = ["--s3-chunk-size", f"{o.chunk // MIB}Mi", "--s3-upload-concurrency", str(o.concurrency)]
    return Tool(
        "rclone",
        [*base, "rcat", *sized, target],
        [*base, "cat", target],
        bench.env(**{prefix + name: value for name, value in remote.items()}),
        key,
        f"remote `{RCLONE_REMOTE}` from `{prefix}*` variables (s3, provider Other, path style);"
        " `cat` has no part size or concurrency: rclone reads a stream with one GET"
        " (`--multi-thread-*` only applies when writing local files)",
    )


TOOLS: tuple[Callable[[Bench], Tool], ...] = (gps3async_tool, s5cmd_tool, aws_tool, rclone_tool)


# ---------------------------------------------------------------------------
# Measurements


@dataclass(frozen=True)
class Result:
    """One tool moving one object one way."""

    tool: str
    direction: str
    nbytes: int
    usage: Usage
    server_cpu: float


@dataclass(frozen=True)
class Batch:
    """Segment-host mode: every process of one direction, run at once."""

    direction: str
    nbytes: int
    wall: float
    usages: list[Usage]
    server_cpu: float


def best(run: Callable[[], Result], repeat: int) -> Result:
    return min((run() for _ in range(repeat)), key=lambda result: result.usage.wall)


def upload_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = upload_processes([tool.upload], tool.env, [source])
    result = Result(tool.name, "upload", source.length, usage, bench.server_cpu() - before)
    stored = object_size(bench.client, tool.key)
    if stored != source.length:
        raise BenchError(f"{tool.name} stored {stored} bytes at {tool.key}, not {source.length}")
    progress(f"  {tool.name} upload: {usage.wall:.2f} s")
    return result


def download_once(bench: Bench, tool: Tool, source: Slice) -> Result:
    before = bench.server_cpu()
    _, (usage,) = download_processes([tool.download], tool.env, [source])
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


def segment_tool(bench: Bench) -> tuple[list[list[str]], list[list[str]], str]:
    """The 8 backup_data and 8 restore_data command lines, and the folder they write under."""
    o = bench.options
    folder = "segments"
    config = plugin_config(
        bench.home / "segments.yaml", bench.server.endpoint, folder, o.segment_chunk, o.segment_concurrency
    )
    plugin = str(BIN / "gpbackup_s3_plugin")
    paths = [gpbackup_path(content) for content in range(SEGMENTS)]
    backups = [[plugin, "backup_data", str(config), path] for path in paths]
    restores = [[plugin, "restore_data", str(config), path] for path in paths]
    return backups, restores, folder + "/"


def run_segments(bench: Bench, data: Path) -> list[Batch]:
    sources = segment_slices(data, bench.options.size)
    backups, restores, prefix = segment_tool(bench)
    env, nbytes = bench.plugin_env(), sum(source.length for source in sources)
    progress(f"segment host: {SEGMENTS} x {human(SEGMENT_SIZE)}")
    try:
        before = bench.server_cpu()
        wall, usages = upload_processes(backups, env, sources)
        upload = Batch("upload", nbytes, wall, usages, bench.server_cpu() - before)
        progress(f"  upload batch: {wall:.2f} s")
        before = bench.server_cpu()
        wall, usages = download_processes(restores, env, sources)
        download = Batch("download", nbytes, wall, usages, bench.server_cpu() - before)
        progress(f"  download batch: {wall:.2f} s (verified)")
    finally:
        delete_prefix(bench.client, prefix)
    return [upload, download]


# ---------------------------------------------------------------------------
# Reporting


def first_line(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return lines[0] if lines else "unknown"


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * KIB / GIB
    return 0.0


def machine(bench: Bench) -> list[tuple[str, str]]:
    env = bench.env()
    return [
        ("CPUs (nproc)", str(len(os.sched_getaffinity(0)))),
        ("Load average at start (1, 5, 15 min)", ", ".join(f"{load:.2f}" for load in os.getloadavg())),
        ("CPU model", cpu_model()),
        ("Memory", f"{memory_gib():.1f} GiB"),
        ("Kernel", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("gps3async", first_line([str(BIN / "gpbackup_s3_plugin"), "--version"], bench.plugin_env())),
        ("gps3async code measured", bench.plugin.description),
        ("s5cmd", first_line([str(BIN / "s5cmd"), "version"], env)),
        ("aws", first_line([str(BIN / "aws"), "--version"], env)),
        ("rclone (client and server)", first_line([str(BIN / "rclone"), "version"], env)),
    ]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well in a terminal; numbers align right."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(re.fullmatch(r"[-\d.,x%]+", row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def mb_per_s(nbytes: int, wall: float) -> float:
    return nbytes / wall / MB


def cpu_per_gib(cpu: float, nbytes: int) -> float:
    return cpu / (nbytes / GIB)


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
                r.tool, direction, f"{r.usage.wall:.2f}", f"{r.usage.cpu:.2f}",
                f"{cpu_per_gib(r.usage.cpu, r.nbytes):.2f}", f"{r.usage.max_rss / MIB:.0f}",
                f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", ratio, f"{r.server_cpu:.2f}",
            ])  # fmt: skip
    return table(headers, rows)


def rss_bound(chunk: int, concurrency: int) -> int:
    return chunk * (concurrency + 1) + RSS_ALLOWANCE


def bound_text(chunk: int, concurrency: int) -> str:
    bound = rss_bound(chunk, concurrency)
    return f"{human(chunk)} x ({concurrency} + 1) + 80 MiB = {bound / MIB:.0f} MiB"


def singles_bound(results: list[Result], options: Options) -> str:
    bound = rss_bound(options.chunk, options.concurrency)
    parts = []
    for r in results:
        if r.tool == "gps3async":
            verdict = "within" if r.usage.max_rss <= bound else "OVER"
            parts.append(f"{r.direction} {r.usage.max_rss / MIB:.0f} MiB ({verdict})")
    return f"gps3async peak RSS against its bound {bound_text(options.chunk, options.concurrency)}: " + ", ".join(parts)


def singles_summary(results: list[Result]) -> list[str]:
    """One computed sentence per direction: who was fastest and where gps3async stands."""
    lines = []
    for direction in DIRECTIONS:
        fastest = fastest_peer(results, direction)
        ours = next((r for r in results if r.tool == "gps3async" and r.direction == direction), None)
        if fastest is None or ours is None:
            continue
        peer_cpu = [cpu_per_gib(r.usage.cpu, r.nbytes) for r in results if r.direction == direction and r.tool in PEERS]
        lines.append(
            f"- {direction}: fastest peer {fastest.tool} at {mb_per_s(fastest.nbytes, fastest.usage.wall):.0f} MB/s;"
            f" gps3async {mb_per_s(ours.nbytes, ours.usage.wall):.0f} MB/s"
            f" ({ours.usage.wall / fastest.usage.wall:.2f}x its wall time),"
            f" {cpu_per_gib(ours.usage.cpu, ours.nbytes):.2f} CPU s/GiB"
            f" against peers' {min(peer_cpu):.2f}-{max(peer_cpu):.2f}."
        )
    return lines


def segments_table(batches: list[Batch]) -> str:
    headers = ["direction", "processes", "total MiB", "batch wall s", "aggregate MB/s", "client CPU s", "CPU s/GiB"]
    headers += ["sum peak RSS MiB", "max peak RSS MiB", "server CPU s"]
    rows = []
    for b in batches:
        cpu = sum(u.cpu for u in b.usages)
        rows.append([
            b.direction, str(len(b.usages)), f"{b.nbytes / MIB:.0f}", f"{b.wall:.2f}",
            f"{mb_per_s(b.nbytes, b.wall):.1f}", f"{cpu:.2f}", f"{cpu_per_gib(cpu, b.nbytes):.2f}",
            f"{sum(u.max_rss for u in b.usages) / MIB:.0f}", f"{max(u.max_rss for u in b.usages) / MIB:.0f}",
            f"{b.server_cpu:.2f}",
        ])  # fmt: skip
    return table(headers, rows)


def segments_bound(batches: list[Batch], chunk: int, concurrency: int) -> str:
    bound = rss_bound(chunk, concurrency)
    parts = []
    for b in batches:
        largest = max(u.max_rss for u in b.usages)
        over = sum(u.max_rss > bound for u in b.usages)
        parts.append(f"{b.direction} {largest / MIB:.0f} MiB ({over} of {len(b.usages)} processes over)")
    return f"Largest gps3async process against the bound of {bound / MIB:.0f} MiB: " + ", ".join(parts)


def segment_settings(options: Options) -> tuple[int, int, str]:
    chunk = options.segment_chunk or DEFAULT_CHUNKSIZE
    concurrency = options.segment_concurrency or DEFAULT_CONCURRENCY
    given = options.segment_chunk is not None or options.segment_concurrency is not None
    return chunk, concurrency, "from the command line" if given else "the plugin's defaults"


@dataclass
class Report:
    options: Options
    machine: list[tuple[str, str]]
    tools: list[Tool]
    endpoint: str
    home: Path
    singles: list[Result] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


def singles_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Single stream: {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} requests in flight"
    if not report.singles:
        return [title, "", "Not run (`--segments-only`)."]
    return [
        title,
        "",
        singles_table(report.singles),
        "",
        singles_bound(report.singles, o),
        "",
        *singles_summary(report.singles),
    ]


def segments_section(report: Report) -> list[str]:
    chunk, concurrency, origin = segment_settings(report.options)
    title = f"## Segment host: {SEGMENTS} plugin processes x {human(SEGMENT_SIZE)} at once"
    if not report.batches:
        return [title, "", "Not run (`--skip-segments`)."]
    return [
        title,
        "",
        f"gps3async only, {human(chunk)} parts and {concurrency} requests per process ({origin}).",
        "Aggregate MB/s is all bytes over the batch's wall time;",
        f"per-process RSS bound {bound_text(chunk, concurrency)}.",
        "",
        segments_table(report.batches),
        "",
        segments_bound(report.batches, chunk, concurrency),
    ]


def results_text(report: Report) -> str:
    return "\n".join([*singles_section(report), "", *segments_section(report)]) + "\n"


def shown(argv: list[str], report: Report) -> str:
    text = shlex.join(argv)
    return (
        text.replace(report.endpoint, "http://127.0.0.1:$PORT")
        .replace(str(report.home), "$TMP")
        .replace(str(BIN) + "/", "")
    )


def commands_section(report: Report) -> list[str]:
    lines = ["## Command lines", "", "Endpoint and scratch directory shown as `$PORT` and `$TMP`.", ""]
    for tool in report.tools:
        lines += [f"- **{tool.name}**: {tool.notes}", "", "  ```sh"]
        lines += [f"  {shown(tool.upload, report)}  < data", f"  {shown(tool.download, report)}  > pipe", "  ```", ""]
    return lines


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


def render_doc(report: Report) -> str:
    o = report.options
    run = shlex.join(["python", "-m", "bench.run", *o.argv])
    intro = [
        "# Benchmarks",
        "",
        "gps3async (this plugin) against the usual S3 streaming clients, on one machine and a local S3 server.",
        "",
        "Reproduce with `make bench`, which runs `python -m bench.run`; this page was written by",
        f"`{run}` on {report.date}" + (f", best of {o.repeat} runs." if o.repeat > 1 else ", one run each."),
        "`python -m bench.run --help` lists the options.",
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


# ---------------------------------------------------------------------------
# Entry point


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    load = os.getloadavg()[0]
    if load > 0.5:
        progress(f"warning: load average is {load:.2f}; other work on this machine will skew the numbers")
    data = ensure_data(options.size)
    progress(f"data: {data} ({human(options.size)})")
    try:
        report = run(options, data)
    except BenchError as err:
        progress(f"benchmark failed: {err}")
        return 1
    print(results_text(report))
    if options.write_doc:
        DOC.parent.mkdir(exist_ok=True)
        DOC.write_text(render_doc(report))
        progress(f"wrote {DOC.relative_to(REPO)}")
    return 0


def run(options: Options, data: Path) -> Report:
    with running_server(options) as bench:
        tools = [make(bench) for make in TOOLS]
        report = Report(options, machine(bench), tools, bench.server.endpoint, bench.home)
        if options.singles:
            report.singles = run_singles(bench, tools, make_slice(data, 0, options.size))
        if options.segments:
            report.batches = run_segments(bench, data)
    return report


if __name__ == "__main__":
    sys.exit(main())
