"""Launching and measuring tool processes: spawn under :mod:`bench.launch`, feed stdin, drain stdout, reap, verify.

Every measurement kind runs its tools through :func:`upload_processes` or
:func:`download_processes` (one process or a batch at once); they return the
batch's wall time and each tool's :class:`Usage` as ``os.wait4`` reported it.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from bench.common import KIB, MB, MIB, BenchError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.data import Slice

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


def agent_cpu(home: Path) -> dict[int, float]:
    """CPU seconds so far of each gps3async agent serving calls made with ``HOME=home``, by pid.

    A plugin call hands its work to a long-lived agent (a detached process, so
    ``wait4`` never counts it); the harness adds the agents' CPU over a
    transfer (:func:`agent_cpu_since`) to gps3async's, or the plugin would
    look almost free.
    """
    found, marker = {}, f"HOME={home}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            if b"gps3async.agent" in (entry / "cmdline").read_bytes() and marker in (entry / "environ").read_bytes():
                found[int(entry.name)] = cpu_seconds(int(entry.name))
    return found


def agent_cpu_since(home: Path, before: dict[int, float]) -> float:
    """The agents' CPU since ``before`` (an :func:`agent_cpu` reading); an agent that exited meanwhile,
    having gone idle, counts nothing."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in agent_cpu(home).items())


def cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a running process, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
