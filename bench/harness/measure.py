"""Launching and measuring tool processes: spawn under :mod:`.launch`, feed stdin, drain stdout, reap, verify.

Every measurement kind runs its tools through :func:`upload_processes` or
:func:`download_processes` (one process or a batch at once); they return the
batch's wall time and each tool's :class:`Usage` as ``os.wait4`` reported it,
and fail the run on any failed or wrong transfer.  :func:`upload_endings` and
:func:`download_endings` return how each tool ended instead, for measurements
that count failures.
Server CPU comes from :func:`cpu_seconds`.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from contextlib import suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bench.harness.common import KIB, MB, MIB, BenchError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.harness.data import Slice

LAUNCHER = Path(__file__).resolve().with_name("launch.py")
#: The harness reads the tools' stdout in reads of at most this (a pipe gives 64 KiB at a time).
READ_BLOCK = 1 * MIB


@dataclass(frozen=True)
class Usage:
    """One tool process: wall seconds, user+sys CPU seconds (with reaped children), peak RSS bytes."""

    wall: float
    cpu: float
    max_rss: int


@dataclass
class Child:
    """A tool running under ``bench/harness/launch.py``, which reports its usage on ``report``."""

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
    """Start ``argv`` under the launcher (see ``bench/harness/launch.py`` for why) in its own process group."""
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


@dataclass(frozen=True)
class Ending:
    """How one tool ended: exit code, usage (``None`` if the launcher reported none), stderr, and what went wrong."""

    argv: list[str]
    code: int
    usage: Usage | None
    errors: str
    #: Empty when the tool did its job: exited 0, reported its usage and (downloads) returned the right bytes.
    problem: str = ""


def finish(child: Child) -> Ending:
    """Wait for the launcher and collect the tool's exit code, usage and stderr, failed or not."""
    code = child.process.wait()
    child.watchdog.cancel()
    with os.fdopen(child.report, "rb") as report:
        fields = report.read().split()
    child.stderr.seek(0)
    errors = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if code != 0 or len(fields) != 4:
        return Ending(child.argv, code, None, errors, f"{shlex.join(child.argv)} exited {code}:\n{errors[-3000:]}")
    wall, cpu, max_rss_kib = float(fields[0]), float(fields[1]), int(fields[2])
    return Ending(child.argv, code, Usage(wall, cpu, max_rss_kib * KIB), errors)


def usages_of(endings: list[Ending]) -> list[Usage]:
    """Every tool's usage; the first problem, if any, is a :class:`BenchError` (the numbers mean nothing)."""
    for ending in endings:
        if ending.problem or ending.usage is None:
            raise BenchError(ending.problem or f"{shlex.join(ending.argv)} reported no usage")
    return [ending.usage for ending in endings if ending.usage is not None]


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


def upload_endings(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Ending]]:
    """Run the uploads at once, each reading its slice from a pipe on stdin: batch wall and how each ended."""
    started = time.perf_counter()
    children, feeders = [], []
    for argv, source in zip(argvs, sources):
        read_end, write_end = os.pipe()
        children.append(spawn(argv, env, stdin=read_end, stdout=subprocess.DEVNULL, timeout=timeout_for(source.length)))
        os.close(read_end)
        feeders.append(start_thread(feed, source, write_end))
    for feeder in feeders:
        feeder.join()
    endings = [finish(child) for child in children]
    return time.perf_counter() - started, endings


def download_endings(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Ending]]:
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
    endings = [finish(child) for child in children]
    wall = time.perf_counter() - started
    for index, (source, output) in enumerate(zip(sources, outputs)):
        if not endings[index].problem:
            endings[index] = replace(endings[index], problem=mismatch(endings[index].argv, output, source))
    return wall, endings


def upload_processes(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Usage]]:
    """:func:`upload_endings` where any failure is a :class:`BenchError`: batch wall and usages."""
    wall, endings = upload_endings(argvs, env, sources)
    return wall, usages_of(endings)


def download_processes(argvs: list[list[str]], env: dict[str, str], sources: list[Slice]) -> tuple[float, list[Usage]]:
    """:func:`download_endings` where any failure or wrong stream is a :class:`BenchError`."""
    wall, endings = download_endings(argvs, env, sources)
    return wall, usages_of(endings)


def mismatch(argv: list[str], output: Drained, source: Slice) -> str:
    """Why ``output`` is not ``source`` ("" when it is)."""
    if (output.nbytes, output.crc) == (source.length, source.crc):
        return ""
    return (
        f"{shlex.join(argv)} returned {output.nbytes} bytes with CRC-32 {output.crc:08x};"
        f" expected {source.length} bytes with CRC-32 {source.crc:08x}"
    )


def cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a running process, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
