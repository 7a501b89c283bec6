"""The per-invocation cost: many tiny plugin calls, one after another and 64 at once.

gpbackup starts one plugin process per table per segment, so a backup of many
small tables is mostly start-up.  This measures that cost with 1 KiB calls:

- **in sequence**: ``--invocations`` ``backup_data`` calls, then as many
  ``restore_data`` calls reading them back (each verified), once through a
  warm agent and once with ``agent: off``; each call's wall time and the thin
  client's own CPU and peak RSS come from ``os.wait4`` under
  :mod:`bench.launch`, the agent's CPU and peak from
  :func:`bench.agentstats.charged` over the whole series;
- **at once**: :data:`BURST` ``backup_data`` calls started together through
  the agent, then :data:`BURST` ``restore_data``; failures are counted, not
  fatal, since "none fail" is what this checks;
- **cold**: :data:`COLD_CALLS` times, a ``backup_data`` call with no agent
  running, which starts one: what the warm-up excludes from everything else.

Rendered by :func:`bench.report_invocations.invocations_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.agentstats import charged, status_bytes
from bench.common import BIN, KIB, progress
from bench.data import make_slice
from bench.measure import cpu_seconds, download_endings, download_processes, upload_endings, upload_processes
from bench.server import delete_prefix
from bench.tools import plugin_config

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.agentstats import AgentHome, AgentUsage
    from bench.data import Slice
    from bench.measure import Ending, Usage
    from bench.server import Bench

#: The size of every call's object: small enough that the call is all overhead.
CALL_BYTES = 1 * KIB
#: Calls started at once in the burst (gpbackup's ``--jobs`` times a host's segments can reach this).
BURST = 64
#: The backup timestamps of the sequential calls and of the burst, so their keys never collide.
SEQUENCE_TIMESTAMP = "20261126000000"
BURST_TIMESTAMP = "20261126000001"
VERBS = ("backup_data", "restore_data")
#: Calls that each start a new agent (it is stopped before each).
COLD_CALLS = 5


@dataclass(frozen=True)
class Series:
    """``calls`` sequential calls of one verb with ``agent`` ``mode``: each call's usage, and the agent's share."""

    mode: str
    verb: str
    usages: list[Usage]
    agent: AgentUsage | None


@dataclass(frozen=True)
class Burst:
    """:data:`BURST` calls of one verb started at once through the agent."""

    verb: str
    calls: int
    wall: float
    #: The calls that succeeded; ``failures`` are the rest (non-zero exit or wrong bytes back).
    usages: list[Usage]
    failures: int
    first_failure: str
    agent: AgentUsage | None


@dataclass(frozen=True)
class Cold:
    """One call that found no agent and started one: its own usage, and the new agent's whole CPU and peak."""

    usage: Usage
    agent_cpu: float
    agent_peak_rss: int


@dataclass(frozen=True)
class Invocations:
    """The per-invocation measurements: sequential series (both modes, both verbs), bursts, cold starts."""

    calls: int
    series: list[Series]
    bursts: list[Burst]
    colds: list[Cold]


@dataclass(frozen=True)
class Caller:
    """How to make one verb's call with one config: argv for a call number, environment, agent home."""

    config: Path
    env: dict[str, str]
    agents: AgentHome | None

    def argv(self, verb: str, timestamp: str, number: int) -> list[str]:
        path = f"/x/backups/{timestamp[:8]}/{timestamp}/gpbackup_{number}_{timestamp}"
        return [str(BIN / "gpbackup_s3_plugin"), verb, str(self.config), path]


def caller(bench: Bench, mode: str, folder: str) -> Caller:
    """The config (plugin defaults, ``agent`` ``mode``) and environment of one mode's calls."""
    extra = {} if mode == "on" else {"agent": mode}
    config = plugin_config(bench, bench.home / f"{folder}.yaml", folder, None, None, **extra)
    if mode == "on":
        agents = bench.agent_home(folder, config)
        return Caller(config, agents.env, agents)
    return Caller(config, bench.plugin_env(), None)


def one_call(call: Caller, verb: str, number: int, source: Slice) -> Usage:
    """One call, alone, fatal if it fails: a sequential series measures calls that work."""
    argv = [call.argv(verb, SEQUENCE_TIMESTAMP, number)]
    run = upload_processes if verb == "backup_data" else download_processes
    _, (usage,) = run(argv, call.env, [source])
    return usage


def run_series(call: Caller, mode: str, verb: str, count: int, source: Slice) -> Series:
    with charged(call.agents) as agent:
        usages = [one_call(call, verb, number, source) for number in range(count)]
    walls = sorted(u.wall for u in usages)
    progress(f"  {count} x {verb}, agent {mode}: median {walls[len(walls) // 2] * 1000:.1f} ms")
    return Series(mode, verb, usages, agent.usage)


def run_burst(call: Caller, verb: str, source: Slice) -> Burst:
    argvs = [call.argv(verb, BURST_TIMESTAMP, number) for number in range(BURST)]
    run: Callable[[list[list[str]], dict[str, str], list[Slice]], tuple[float, list[Ending]]]
    run = upload_endings if verb == "backup_data" else download_endings
    with charged(call.agents) as agent:
        wall, endings = run(argvs, call.env, [source] * BURST)
    usages = [e.usage for e in endings if not e.problem and e.usage is not None]
    failed = [e.problem for e in endings if e.problem or e.usage is None]
    progress(f"  {BURST} x {verb} at once: {wall:.2f} s, {len(failed)} failed")
    return Burst(verb, BURST, wall, usages, len(failed), failed[0] if failed else "", agent.usage)


def run_cold(call: Caller, number: int, source: Slice) -> Cold:
    """Stop the agent, then one ``backup_data`` call, which starts a new one; charge all the new agent did."""
    assert call.agents is not None
    call.agents.stop()
    usage = one_call(call, "backup_data", number, source)
    pids = call.agents.pids()
    cpu = sum(cpu_seconds(pid) for pid in pids)  # since its start: start-up and the one call
    return Cold(usage, cpu, sum(status_bytes(pid, "VmHWM") for pid in pids))


def run_invocations(bench: Bench, data: Path) -> Invocations:
    count = bench.options.invocations
    source = make_slice(data, 0, CALL_BYTES)
    series: list[Series] = []
    bursts: list[Burst] = []
    colds: list[Cold] = []
    for mode in ("on", "off"):
        folder = "invocations" if mode == "on" else f"invocations-agent-{mode}"
        call = caller(bench, mode, folder)
        progress(f"invocations: {count} sequential 1 KiB calls per verb, agent {mode}")
        try:
            if mode == "on":
                colds = [run_cold(call, number, source) for number in range(COLD_CALLS)]
                progress(f"  {COLD_CALLS} x backup_data starting an agent: {colds[-1].usage.wall * 1000:.0f} ms")
            series += [run_series(call, mode, verb, count, source) for verb in VERBS]
            if mode == "on":
                progress(f"invocations: {BURST} concurrent 1 KiB calls per verb, agent on")
                bursts = [run_burst(call, verb, source) for verb in VERBS]
        finally:
            delete_prefix(bench, bench.target.key(folder + "/"))
    return Invocations(count, series, bursts, colds)
