"""Charging gps3async's per-host agent for the transfers it serves: its CPU time and peak memory.

Through the agent, ``gpbackup_s3_plugin`` is a thin client that hands its
descriptors to a long-lived ``gps3async-agent`` process, which does the S3
work.  ``os.wait4`` on the plugin process (:mod:`bench.harness.launch`) sees only the
thin client, and the agent is nobody's child, so the harness reads the agent
from ``/proc`` instead:

- **which agent**: every plugin call the harness makes runs with
  ``XDG_RUNTIME_DIR`` set to a directory under ``.bench/`` that this run made
  (one per config, :class:`AgentHome`), so the pid files in its ``gps3async/``
  name only this run's agents, and only the one serving that config;
- **CPU**: utime+stime from ``/proc/PID/stat``, read before and after a
  measurement; the difference is the agent's share of it;
- **memory**: ``VmHWM`` from ``/proc/PID/status``, the high-water mark, reset
  to the current RSS just before the measurement by writing ``5`` to
  ``/proc/PID/clear_refs``;
- **start-up is kept out**: :func:`charged` first makes one tiny call
  (1 KiB ``backup_data``) with the measured config, so the agent is running
  and its S3 client made before the clock and the counters start;
- **each measurement starts from an idle agent**: the agent keeps finished
  calls' part buffers for reuse until it has been idle for
  :data:`~gps3async.agent.server.TRIM_AFTER` seconds, so after the warm-up
  call :func:`charged` waits that long, and one measurement's peak does not
  carry the previous one's buffers.  The agent's RSS at that point is
  reported too (``idle_rss``).

:func:`agent_root` makes the run's directory and, at the end, stops every
agent under it (SIGTERM, then wait) and removes it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness.common import KIB, WORK, BenchError
from bench.harness.gpshell import through_greenplum_path
from bench.harness.measure import cpu_seconds
from gps3async.agent.server import TRIM_AFTER

if TYPE_CHECKING:
    from collections.abc import Iterator

#: What the warm-up call uploads: enough to be a real PutObject, too little to weigh anything.
WARM_BYTES = 1 * KIB
#: The warm-up object's gpbackup path; its key sits beside the measured ones under the config's folder.
WARM_PATH = "/x/backups/20261126/20261126000000/gpbackup_warmup_20261126000000"
#: How long a SIGTERMed agent may take to cancel its calls and close its S3 client.
STOP_TIMEOUT = 30.0
#: After the warm-up call: long enough for the agent to free the buffers it keeps between calls.
SETTLE = TRIM_AFTER + 1.0


@dataclass(frozen=True)
class AgentUsage:
    """What the agent spent during one measurement: CPU seconds, its peak RSS, its RSS when it began (bytes)."""

    cpu: float
    peak_rss: int
    idle_rss: int


class Charge:
    """Filled in by :func:`charged` when its block ends: ``None`` when no agent was involved."""

    usage: AgentUsage | None = None


def status_bytes(pid: int, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmHWM``: peak RSS, ``VmRSS``: current), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * KIB
    raise BenchError(f"/proc/{pid}/status has no {field}")


def reset_peak(pid: int) -> None:
    """Lower the process's high-water mark to its current RSS, so the next reading is this measurement's."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs and is not a zombie (a detached agent is reaped by init, maybe not at once)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def running_agent(pidfile: Path) -> int | None:
    """The pid in an agent's pid file if that process is still an agent (pids are reused)."""
    try:
        pid = int(pidfile.read_text())
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None  # an agent removing its files as it exits, or long gone
    return pid if b"gps3async.agent" in command and alive(pid) else None


class AgentHome:
    """One ``XDG_RUNTIME_DIR`` of this run, the environment its plugin calls use and the config that warms it.

    The agent's identity covers the config's content and the environment, so
    the warm-up call must use exactly the ``env`` and ``config`` of the calls
    being measured, or it would warm a different agent: with ``greenplum_path``
    (``--greenplum-path``), which may export ``PYTHON*`` variables, it is made
    through that file as the measured calls are.
    """

    def __init__(self, runtime: Path, env: dict[str, str], plugin: str, config: Path, greenplum_path: str = "") -> None:
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.runtime = runtime
        self.env = {**env, "XDG_RUNTIME_DIR": str(runtime)}
        self.plugin = plugin
        self.config = config
        self.greenplum_path = greenplum_path

    def pids(self) -> list[int]:
        """The agents running in this directory, from their pid files."""
        found = (running_agent(pidfile) for pidfile in sorted((self.runtime / "gps3async").glob("*.pid")))
        return [pid for pid in found if pid is not None]

    def stop(self) -> None:
        """Stop this home's agents, so the next call starts a new one."""
        stop(self.pids())

    def warm(self) -> list[int]:
        """One tiny call with the measured config, so an agent runs and is warm; its pid(s)."""
        argv = through_greenplum_path(self.greenplum_path, [self.plugin, "backup_data", str(self.config), WARM_PATH])
        done = subprocess.run(
            argv, input=b"w" * WARM_BYTES, capture_output=True, env=self.env, timeout=120, check=False
        )
        if done.returncode != 0:
            raise BenchError(f"the warm-up call {argv} exited {done.returncode}:\n{done.stderr.decode()[-3000:]}")
        pids = self.pids()
        if not pids:
            raise BenchError(
                f"the warm-up call started no agent in {self.runtime} and ran in-process instead"
                " (is the socket path too long, or the directory not private?); the plugin's log says why"
            )
        return pids


@contextmanager
def charged(home: AgentHome | None) -> Iterator[Charge]:
    """Warm the agent, then charge its CPU and peak RSS over the block to the returned :class:`Charge`.

    With ``home`` ``None`` (a tool without an agent) the block just runs.  An
    agent that exits during the block makes the measurement meaningless, since
    its CPU can no longer be read: that is a :class:`BenchError`.
    """
    charge = Charge()
    if home is None:
        yield charge
        return
    pids = home.warm()
    time.sleep(SETTLE)
    before = {pid: cpu_seconds(pid) for pid in pids}
    for pid in pids:
        reset_peak(pid)
    idle = sum(status_bytes(pid, "VmRSS") for pid in pids)
    yield charge
    cpu, peak = 0.0, 0
    for pid in home.pids():
        if pid not in before:
            raise BenchError(f"agent {pid} started during a measurement in {home.runtime}: a warm agent had exited")
        cpu += cpu_seconds(pid) - before.pop(pid)
        peak += status_bytes(pid, "VmHWM")  # one agent per home, so this is that agent's peak
    if before:
        raise BenchError(f"agent(s) {sorted(before)} exited during a measurement; their CPU cannot be charged")
    charge.usage = AgentUsage(cpu, peak, idle)


def stop(pids: list[int]) -> None:
    """SIGTERM these agents and wait until each has gone (SIGKILL after :data:`STOP_TIMEOUT`)."""
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while pids and time.monotonic() < deadline:
        time.sleep(0.05)
        pids = [pid for pid in pids if alive(pid)]
    for pid in pids:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def stop_agents(root: Path) -> None:
    """Stop every agent of every home under ``root``."""
    found = (running_agent(pidfile) for pidfile in root.glob("*/gps3async/*.pid"))
    stop([pid for pid in found if pid is not None])


@contextmanager
def agent_root() -> Iterator[Path]:
    """A fresh directory under ``.bench/`` for this run's agent homes; their agents are stopped at the end."""
    WORK.mkdir(exist_ok=True)
    # Short, because the socket path inside must fit a Unix socket's 107 bytes.
    root = Path(tempfile.mkdtemp(prefix="agents-", dir=WORK))
    try:
        yield root
    finally:
        stop_agents(root)
        shutil.rmtree(root, ignore_errors=True)
