"""The per-invocation cost: many tiny plugin calls, one after another and 64 at once.

gpbackup starts one plugin process per table per segment, so a backup of many
small tables is mostly start-up.  This measures that cost with 1 KiB calls:

- **in sequence**: ``--invocations`` ``backup_data`` calls, then as many
  ``restore_data`` calls reading them back (each verified), once through a
  warm agent and once with ``agent: off``; each call's wall time and the thin
  client's own CPU and peak RSS come from ``os.wait4`` under
  :mod:`bench.harness.launch`, the agent's CPU and peak from
  :func:`bench.harness.agentstats.charged` over the whole series;
- **at once**: :data:`BURST` ``backup_data`` calls started together through
  the agent, then :data:`BURST` ``restore_data``; failures are counted, not
  fatal, since "none fail" is what this checks;
- **cold**: :data:`COLD_CALLS` times, a ``backup_data`` call with no agent
  running, which starts one: what the warm-up excludes from everything else;
- **from each entry point users install** (:data:`ENTRY_POINTS`): the
  sequential series through the agent run from the native client pip compiles
  (``gpbackup_s3_plugin``, measured only when it is an ELF file), from the
  Python client it falls back to (``gpbackup_s3_plugin_python``: ``/bin/sh``
  then ``python3 -IS``) and from the launcher ``make deploy`` writes
  (``#!PREFIX/bin/python3 -IS``, built here in a prefix of its own under the
  run's HOME whose site-packages is this environment's); ``agent: off``, the
  cold starts and the bursts from the first of them, what users run;
- **the Go plugin** (with ``--go-plugin PATH``): the same sequential series
  with the Go ``gpbackup_s3_plugin`` at its defaults (a config of its own,
  the same store, credentials from the environment), in :data:`PAIRED_BLOCKS`
  blocks alternating with the blocks of the first entry point's series (the
  two the goals compare, so the machine's drift hits both alike), whose
  medians are then issues 16's and 27's goals instead of the constants in
  :mod:`bench.harness.tables`;
- **the floor**: the bare interpreter, ``python3 -I -S -c pass`` and
  ``python3 -I -c pass``, as many times, spawned the same way: what no Python
  entry point can go under, and what ``site`` costs;
- **as gprestore calls** (with ``--greenplum-path FILE``): every call above and
  every floor run through ``bash -c "source FILE && exec ..."``
  (:mod:`bench.harness.gpshell`), and one more floor, ``bash -c "source FILE
  && true"``: what no plugin called that way can go under.

Rendered by :func:`bench.percall.report_invocations.invocations_section`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bench.harness.agentstats import AgentHome, AgentUsage, charged, status_bytes
from bench.harness.common import KIB, progress
from bench.harness.data import make_slice
from bench.harness.gpshell import through_greenplum_path
from bench.harness.measure import cpu_seconds, download_endings, download_processes, upload_endings, upload_processes
from bench.harness.server import delete_prefix
from bench.harness.tools import plugin_config
from bench.percall.entries import deploy_launcher, is_elf
from bench.percall.floors import Floor, run_floors
from tests.s3server import write_plugin_config

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.harness.data import Slice
    from bench.harness.measure import Ending, Usage
    from bench.harness.server import Bench

#: The size of every call's object: small enough that the call is all overhead.
CALL_BYTES = 1 * KIB
#: Calls started at once in the burst (gpbackup's ``--jobs`` times a host's segments can reach this).
BURST = 64
#: The backup timestamps of the sequential calls and of the burst, so their keys never collide.
SEQUENCE_TIMESTAMP = "20261126000000"
BURST_TIMESTAMP = "20261126000001"
VERBS = ("backup_data", "restore_data")
#: With ``--go-plugin``, the series the goal compares (users' entry point and the Go plugin) alternate in
#: this many blocks of calls each, so the machine's drift hits both alike.
PAIRED_BLOCKS = 5
#: Calls that each start a new agent (it is stopped before each).
COLD_CALLS = 5
#: The entry points users install: pip's native client and the Python client it falls back to, ``make deploy``'s.
NATIVE_CLIENT, PYTHON_CLIENT, DEPLOY_LAUNCHER = "native client", "Python client", "deploy launcher"
#: The entry point and mode of the Go plugin's series: it has no agent.
GO_PLUGIN, GO_MODE = "Go plugin", "-"
ENTRY_POINTS = (NATIVE_CLIENT, PYTHON_CLIENT, DEPLOY_LAUNCHER)
#: The agent's folder per entry point (no longer than "invocations": the agent's socket path must fit 107 bytes).
FOLDERS = {NATIVE_CLIENT: "invocations", PYTHON_CLIENT: "calls-py", DEPLOY_LAUNCHER: "calls-deploy"}


@dataclass(frozen=True)
class Series:
    """``calls`` sequential calls of one verb with ``agent`` ``mode`` from one entry point: each call's usage, and
    the agent's share."""

    mode: str
    entry: str
    verb: str
    usages: list[Usage]
    agent: AgentUsage | None


@dataclass(frozen=True)
class Burst:
    """:data:`BURST` calls of one verb started at once through the agent, from one entry point."""

    verb: str
    entry: str
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
    """The per-invocation measurements: sequential series (both modes, both verbs), bursts, cold starts, floors."""

    calls: int
    series: list[Series]
    bursts: list[Burst]
    colds: list[Cold]
    floors: list[Floor]
    #: ``--greenplum-path``: every call ran through ``bash -c "source FILE && exec ..."``; empty: exec'd directly.
    greenplum_path: str = ""


@dataclass(frozen=True)
class Caller:
    """How to make one verb's call with one config: argv for a call number, environment, agent home."""

    config: Path
    env: dict[str, str]
    agents: AgentHome | None
    executable: str
    entry: str
    greenplum_path: str = ""

    def argv(self, verb: str, timestamp: str, number: int) -> list[str]:
        path = f"/x/backups/{timestamp[:8]}/{timestamp}/gpbackup_{number}_{timestamp}"
        return through_greenplum_path(self.greenplum_path, [self.executable, verb, str(self.config), path])


def entry_points(bench: Bench) -> tuple[str, ...]:
    """The entry points to measure, the first the one users run; why one is missing goes to the progress output."""
    if bench.options.plugin_rev is not None:
        progress("invocations: --plugin-rev runs the revision's Python client from a script of its own: no native"
                 " client or deploy launcher rows")  # fmt: skip
        return (PYTHON_CLIENT,)
    if not is_elf(bench.plugin.executable):
        progress(f"invocations: {bench.plugin.executable} is not an ELF file (pip found no C compiler?): no native"
                 " client row")  # fmt: skip
        return (PYTHON_CLIENT, DEPLOY_LAUNCHER)
    return ENTRY_POINTS


def caller(bench: Bench, mode: str, folder: str, entry: str) -> Caller:
    """The config (plugin defaults, ``agent`` ``mode``), environment and executable of one mode's calls."""
    extra = {} if mode == "on" else {"agent": mode}
    config = plugin_config(bench, bench.home / f"{folder}.yaml", folder, None, None, **extra)
    executables = {NATIVE_CLIENT: bench.plugin.executable, PYTHON_CLIENT: bench.plugin.python_client}
    executable = executables[entry] if entry in executables else deploy_launcher(bench)
    gp = bench.options.greenplum_path
    if mode == "on":
        agents = AgentHome(bench.agents / folder, bench.env(**bench.plugin.env), executable, config, gp)
        # A native call that fell back to Python would be measured under the wrong name: make that fail instead.
        env = {**agents.env, "GPS3ASYNC_CLIENT": "native"} if entry == NATIVE_CLIENT else agents.env
        return Caller(config, env, agents, executable, entry, gp)
    return Caller(config, bench.plugin_env(), None, executable, entry, gp)


def go_caller(bench: Bench, path: str) -> Caller:
    """The Go plugin at its defaults on the same store: no keys in its YAML, so it takes the environment's."""
    target = bench.target
    config = write_plugin_config(
        bench.home / "calls-go.yaml", path, target.endpoint, target.bucket, target.key("calls-go"),
        region=target.region, aws_access_key_id=None, aws_secret_access_key=None,
    )  # fmt: skip
    return Caller(config, bench.env(), None, path, GO_PLUGIN, bench.options.greenplum_path)


def one_call(call: Caller, verb: str, number: int, source: Slice) -> Usage:
    """One call, alone, fatal if it fails: a sequential series measures calls that work."""
    argv = [call.argv(verb, SEQUENCE_TIMESTAMP, number)]
    run = upload_processes if verb == "backup_data" else download_processes
    _, (usage,) = run(argv, call.env, [source])
    return usage


def say_series(series: Series, count: int) -> None:
    walls = sorted(u.wall for u in series.usages)
    own = sum(u.cpu for u in series.usages) / count
    agent_cpu = f", agent CPU {series.agent.cpu / count * 1000:.2f} ms/call" if series.agent else ""
    progress(f"  {count} x {series.verb}, agent {series.mode}, {series.entry}: median"
             f" {walls[len(walls) // 2] * 1000:.1f} ms, p95 {walls[min(count - 1, int(count * 0.95))] * 1000:.1f} ms,"
             f" own CPU {own * 1000:.2f} ms/call{agent_cpu},"
             f" own peak RSS {max(u.max_rss for u in series.usages) / 2**20:.1f} MiB")  # fmt: skip


def run_series(call: Caller, mode: str, entry: str, verb: str, count: int, source: Slice) -> Series:
    with charged(call.agents) as agent:
        usages = [one_call(call, verb, number, source) for number in range(count)]
    series = Series(mode, entry, verb, usages, agent.usage)
    say_series(series, count)
    return series


def run_beside_go(ours: Caller, go: Caller, verb: str, count: int, source: Slice) -> list[Series]:
    """Our ``verb`` series and the Go plugin's, in alternating blocks of calls.

    The goal compares their medians, so drift in the machine's load must hit
    both alike: one series after the other would give each a different
    machine.  The agent is charged block by block, each block warmed and
    settled as a whole series is.
    """
    block = max(count // PAIRED_BLOCKS, 1)
    usages: dict[str, list[Usage]] = {ours.entry: [], go.entry: []}
    cpu, peak, idle = 0.0, 0, None
    for start in range(0, count, block):
        numbers = range(start, min(start + block, count))
        with charged(ours.agents) as agent:
            usages[ours.entry] += [one_call(ours, verb, number, source) for number in numbers]
        if agent.usage is not None:
            cpu, peak = cpu + agent.usage.cpu, max(peak, agent.usage.peak_rss)
            idle = agent.usage.idle_rss if idle is None else idle
        usages[go.entry] += [one_call(go, verb, number, source) for number in numbers]
    charge = AgentUsage(cpu, peak, idle) if idle is not None else None
    paired = [Series("on", ours.entry, verb, usages[ours.entry], charge),
              Series(GO_MODE, GO_PLUGIN, verb, usages[go.entry], None)]  # fmt: skip
    for series in paired:
        say_series(series, count)
    return paired


def run_burst(call: Caller, verb: str, source: Slice) -> Burst:
    argvs = [call.argv(verb, BURST_TIMESTAMP, number) for number in range(BURST)]
    run: Callable[[list[list[str]], dict[str, str], list[Slice]], tuple[float, list[Ending]]]
    run = upload_endings if verb == "backup_data" else download_endings
    with charged(call.agents) as agent:
        wall, endings = run(argvs, call.env, [source] * BURST)
    usages = [e.usage for e in endings if not e.problem and e.usage is not None]
    failed = [e.problem for e in endings if e.problem or e.usage is None]
    progress(f"  {BURST} x {verb} at once: {wall:.2f} s, {len(failed)} failed")
    return Burst(verb, call.entry, BURST, wall, usages, len(failed), failed[0] if failed else "", agent.usage)


def run_cold(call: Caller, number: int, source: Slice) -> Cold:
    """Stop the agent, then one ``backup_data`` call, which starts a new one; charge all the new agent did."""
    assert call.agents is not None
    call.agents.stop()
    usage = one_call(replace(call, env=call.agents.env), "backup_data", number, source)  # may fall back to Python
    pids = call.agents.pids()
    cpu = sum(cpu_seconds(pid) for pid in pids)  # since its start: start-up and the one call
    return Cold(usage, cpu, sum(status_bytes(pid, "VmHWM") for pid in pids))


def run_invocations(bench: Bench, data: Path) -> Invocations:
    count = bench.options.invocations
    source = make_slice(data, 0, CALL_BYTES)
    series: list[Series] = []
    bursts: list[Burst] = []
    colds: list[Cold] = []
    gp = bench.options.greenplum_path
    progress(f"invocations: every call through bash -c 'source {gp} && exec ...'" if gp else
             "invocations: every call exec'd directly (no --greenplum-path)")  # fmt: skip
    floors = run_floors(bench, count, make_slice(data, 0, 0))
    entries = entry_points(bench)
    users = entries[0]  # what users run: agent off, the cold starts and the bursts go through it
    runs = [("on", entry) for entry in entries] + [("off", users)]
    go = go_caller(bench, bench.options.go_plugin) if bench.options.go_plugin else None
    for mode, entry in runs:
        folder = FOLDERS[entry] if mode == "on" else f"invocations-agent-{mode}"
        call = caller(bench, mode, folder, entry)
        progress(f"invocations: {count} sequential 1 KiB calls per verb, agent {mode}, {entry}")
        try:
            if mode == "on" and entry == users:
                colds = [run_cold(call, number, source) for number in range(COLD_CALLS)]
                progress(f"  {COLD_CALLS} x backup_data starting an agent: {colds[-1].usage.wall * 1000:.0f} ms")
            if go is not None and mode == "on" and entry == users:
                progress(f"  the Go plugin {go.executable}, in {PAIRED_BLOCKS} blocks alternating with these calls")
                try:
                    series += [paired for verb in VERBS for paired in run_beside_go(call, go, verb, count, source)]
                finally:
                    delete_prefix(bench, bench.target.key("calls-go/"))
            else:
                series += [run_series(call, mode, entry, verb, count, source) for verb in VERBS]
            if mode == "on" and entry == users:
                progress(f"invocations: {BURST} concurrent 1 KiB calls per verb, agent on, {entry}")
                bursts = [run_burst(call, verb, source) for verb in VERBS]
        finally:
            delete_prefix(bench, bench.target.key(folder + "/"))
    return Invocations(count, series, bursts, colds, floors, gp)
