"""The per-invocation section (:mod:`bench.percall.invocations`): tiny calls in sequence and at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import MIB
from bench.harness.tables import (
    CLIENT_RSS_GOAL,
    INVOCATION_GOALS,
    NATIVE_GO_RATIO_GOAL,
    P95_SPREAD_GOAL,
    agent_cell,
    client_peak,
    mib,
    ms,
    percentile,
    table,
    verdict,
)

if TYPE_CHECKING:
    from bench.harness.measure import Usage
    from bench.percall.floors import Floor
    from bench.percall.invocations import Burst, Cold, Invocations, Series
    from bench.results import Report


def own_cpu(usages: list[Usage]) -> float:
    """The calling processes' CPU per call (the thin client's, or with ``agent: off`` the whole call's)."""
    return sum(u.cpu for u in usages) / len(usages)


def call_cpu(usages: list[Usage], agent_cpu: float | None) -> float:
    """What one call costs the machine: its own process's CPU plus its share of the agent's."""
    return own_cpu(usages) + (agent_cpu or 0.0) / len(usages)


def median_wall(series: Series) -> float:
    return percentile([u.wall for u in series.usages], 0.5)


def go_medians(series: list[Series]) -> dict[str, float]:
    """The Go plugin's median per verb, for the verbs it ran in this run."""
    from bench.percall.invocations import GO_PLUGIN

    return {s.verb: median_wall(s) for s in series if s.entry == GO_PLUGIN}


def series_table(series: list[Series]) -> str:
    """One row per series, grouped by verb (in the order they ran), each median against the Go plugin's."""
    go = go_medians(series)
    headers = ["verb", "agent", "entry point", "calls", "median ms", "x Go median", "p95 ms"]
    headers += ["own process peak RSS MiB", "own CPU ms/call", "agent CPU ms/call", "agent idle RSS MiB"]
    headers += ["agent peak RSS MiB"]
    rows = []
    verbs = list(dict.fromkeys(s.verb for s in series))
    for s in sorted(series, key=lambda s: verbs.index(s.verb)):
        walls = [u.wall for u in s.usages]
        calls = len(s.usages)
        agent_cpu = ms(s.agent.cpu / calls) if s.agent else "-"
        ratio = f"{median_wall(s) / go[s.verb]:.2f}x" if s.verb in go else "-"
        rows.append([
            s.verb, s.mode, s.entry, str(calls), ms(percentile(walls, 0.5)), ratio, ms(percentile(walls, 0.95)),
            mib(client_peak(s.usages)), ms(own_cpu(s.usages)),
            agent_cpu, agent_cell(s.agent, lambda a: mib(a.idle_rss)), agent_cell(s.agent, lambda a: mib(a.peak_rss)),
        ])  # fmt: skip
    return table(headers, rows)


def floor_table(floors: list[Floor], greenplum_path: str) -> str:
    through = " (after greenplum_path.sh)" if greenplum_path else ""
    headers = [f"no plugin work{through}", "runs", "median ms", "p95 ms", "CPU ms/run", "peak RSS MiB"]
    rows = []
    for f in floors:
        walls = [u.wall for u in f.usages]
        rows.append([
            f"`{f.label}`", str(len(f.usages)), ms(percentile(walls, 0.5)),
            ms(percentile(walls, 0.95)), ms(own_cpu(f.usages)), mib(client_peak(f.usages)),
        ])  # fmt: skip
    return table(headers, rows)


def burst_table(bursts: list[Burst]) -> str:
    headers = ["verb", "calls at once", "batch wall s", "per-call median ms", "per-call p95 ms", "failures"]
    headers += ["thin client peak RSS MiB", "own CPU ms/call", "agent CPU s", "agent idle RSS MiB"]
    headers += ["agent peak RSS MiB"]
    rows = []
    for b in bursts:
        walls = [u.wall for u in b.usages]
        rows.append([
            b.verb, str(b.calls), f"{b.wall:.2f}",
            ms(percentile(walls, 0.5)) if walls else "-", ms(percentile(walls, 0.95)) if walls else "-",
            str(b.failures), mib(client_peak(b.usages)) if b.usages else "-",
            ms(own_cpu(b.usages)) if b.usages else "-", agent_cell(b.agent, lambda a: f"{a.cpu:.2f}"),
            agent_cell(b.agent, lambda a: mib(a.idle_rss)),
            agent_cell(b.agent, lambda a: mib(a.peak_rss)),
        ])  # fmt: skip
    return table(headers, rows)


def cold_text(colds: list[Cold]) -> list[str]:
    """The cost the warm-up keeps out of every other number: a call that has to start the agent."""
    if not colds:
        return []
    walls = [c.usage.wall for c in colds]
    return [
        f"Cold start, {len(colds)} times: a 1 KiB `backup_data` with no agent running, which starts one"
        f" (excluded from every other figure by the warm-up call): wall median {ms(percentile(walls, 0.5))} ms,"
        f" max {ms(max(walls))} ms; the new agent's CPU for its start-up and that call median"
        f" {ms(percentile([c.agent_cpu for c in colds], 0.5))} ms; its peak RSS at most"
        f" {mib(max(c.agent_peak_rss for c in colds))} MiB.",
        "",
    ]


def go_goals(inv: Invocations) -> tuple[dict[str, float], str]:
    """Issue 16's goal per verb: the Go plugin's median measured in this run, else the documented constants."""
    measured = go_medians(inv.series)
    if set(measured) >= set(INVOCATION_GOALS):
        return measured, f"measured in this run (`--go-plugin`, {inv.calls} sequential calls per verb, table above)"
    return dict(INVOCATION_GOALS), "not run here (no `--go-plugin`): the constants measured once on a 2-core machine"


def native_ratio_goals(inv: Invocations) -> list[str]:
    """Issue 27's goal: the native client's median at most :data:`NATIVE_GO_RATIO_GOAL` x the Go plugin's."""
    from bench.percall.invocations import NATIVE_CLIENT

    go = go_medians(inv.series)
    lines = []
    for s in (s for s in inv.series if s.entry == NATIVE_CLIENT and s.agent is not None and s.verb in go):
        ratio = median_wall(s) / go[s.verb]
        lines.append(
            f"- {s.verb} from the {NATIVE_CLIENT}, median at most {NATIVE_GO_RATIO_GOAL}x the Go plugin's"
            f" {ms(go[s.verb])} ms: {ms(median_wall(s))} ms, {ratio:.2f}x, {verdict(ratio <= NATIVE_GO_RATIO_GOAL)}"
        )
    return lines


def invocation_goals(inv: Invocations) -> list[str]:
    """The issues' goals, each with the measured figure and the margin."""
    goals, source = go_goals(inv)
    lines = [f"The Go plugin's medians: {source}.", "", *native_ratio_goals(inv)]
    for s in (s for s in inv.series if s.agent is not None):
        walls = [u.wall for u in s.usages]
        median, p95 = percentile(walls, 0.5), percentile(walls, 0.95)
        goal = goals[s.verb]
        margin = median - goal
        lines.append(
            f"- {s.verb} from the {s.entry}, median through a warm agent at most the Go plugin's {ms(goal)} ms:"
            f" {ms(median)} ms, {verdict(margin <= 0)}" + (f" (over by {ms(margin)} ms)" if margin > 0 else "")
        )
        lines.append(
            f"- {s.verb} from the {s.entry}, p95 within {P95_SPREAD_GOAL}x the median: {ms(p95)} ms,"
            f" {p95 / median:.2f}x, {verdict(p95 <= P95_SPREAD_GOAL * median)}"
        )
    through_agent = [u for s in inv.series if s.agent is not None for u in s.usages]
    through_agent += [u for b in inv.bursts for u in b.usages]
    if through_agent:
        peak = client_peak(through_agent)
        over = peak - CLIENT_RSS_GOAL
        lines.append(
            f"- thin client peak RSS at most {CLIENT_RSS_GOAL / MIB:.0f} MiB (every call above through the agent):"
            f" {peak / MIB:.1f} MiB, {verdict(over <= 0)}" + (f" (over by {over / MIB:.1f} MiB)" if over > 0 else "")
        )
    failures = sum(b.failures for b in inv.bursts)
    if inv.bursts:
        lines.append(f"- no failures among the concurrent calls: {failures}, {verdict(failures == 0)}")
    for b in (b for b in inv.bursts if b.usages):
        alone = [s for s in inv.series if s.agent is not None and s.verb == b.verb and s.entry == b.entry]
        if alone:
            at_once = call_cpu(b.usages, b.agent.cpu if b.agent else None)
            sequential = call_cpu(alone[0].usages, alone[0].agent.cpu if alone[0].agent else None)
            lines.append(
                f"- {b.verb}: CPU per call (own + agent share) {b.calls} at once {ms(at_once)} ms against"
                f" {ms(sequential)} ms in sequence, {at_once / sequential:.2f}x"
            )
    first = next((b.first_failure for b in inv.bursts if b.first_failure), "")
    if first:
        lines += ["", "First failure:", "", "```", first.strip()[-2000:], "```"]
    return lines


def calls_text(greenplum_path: str) -> list[str]:
    """How the calls were started: as gprestore does, or exec'd directly (then bash's share is not in them)."""
    if greenplum_path:
        return [
            f'Every call and floor below ran as gprestore makes its calls: `bash -c "source {greenplum_path} &&',
            'exec PLUGIN VERB CONFIG PATH"` (`--greenplum-path`), so each figure includes bash and that file.',
            "",
        ]
    return [
        "Every call below was exec'd directly (no `--greenplum-path`): gprestore runs each through `bash -c",
        "\"source $GPHOME/greenplum_path.sh && ...\"`, which adds that shell's start to every call, ours and Go's.",
        "",
    ]


def invocations_section(report: Report) -> list[str]:
    title = "## Per invocation: 1 KiB calls"
    inv = report.invocations
    if inv is None:
        return [title, "", "Not run (`--skip-invocations`, `--segments-only` or `--modes-only`)."]
    from bench.percall.invocations import BURST

    return [
        title,
        "",
        *calls_text(inv.greenplum_path),
        f"The interpreter alone, {inv.calls} times each, spawned as the calls are: the floor under every Python",
        "entry point, and what `site` costs (the Python entry points run `python3 -I -S`)"
        + (";" if inv.greenplum_path else "."),
        *(
            ["and bash sourcing greenplum_path.sh alone: the floor under every plugin called that way."]
            if inv.greenplum_path
            else []
        ),
        "",
        floor_table(inv.floors, inv.greenplum_path),
        "",
        f"{inv.calls} `backup_data` calls of 1 KiB one after another, then {inv.calls} `restore_data` calls",
        "reading them back (each verified), through a warm agent (warmed by one tiny call before each series)",
        "and with `agent: off`; the plugin's default part size and concurrency.  **median ms** and **p95 ms**:",
        "wall time of one call, from spawning `gpbackup_s3_plugin` to reaping it.  **own process peak RSS MiB**:",
        "the largest `ru_maxrss` of the call's own process over the series (the thin client; with `agent: off`",
        "the process doing the transfer), never below the launcher's own that Linux carries into it at exec (the",
        "floors' peak RSS).  **own CPU ms/call**: that process's CPU per call;  **agent CPU",
        "ms/call**: the agent's CPU over the series divided by the number of calls, so a call through the agent",
        "costs both.  **entry point**: the native client pip compiles (`gpbackup_s3_plugin`, C; shown only when",
        "it is an ELF file), the Python client it falls back to (`gpbackup_s3_plugin_python`: `/bin/sh` execs",
        "`python3 -IS`) or the launcher `make deploy` writes (`#!PREFIX/bin/python3 -IS`); `agent: off`, the cold",
        "starts and the concurrent calls go through the first of them.  **Go plugin** (with `--go-plugin PATH`):",
        "the Go `gpbackup_s3_plugin` at its defaults on the same store, no agent, in the same run, its calls in",
        "blocks alternating with the first entry point's; **x Go median**: the row's median over the Go",
        "plugin's for the same verb.",
        "",
        series_table(inv.series),
        "",
        *cold_text(inv.colds),
        f"{BURST} calls of 1 KiB started at once through the agent, `backup_data` then `restore_data` of the same",
        "objects.  **batch wall s**: from the first spawn until the last call is reaped and verified; per-call",
        "times as above, over the calls that succeeded; **failures**: calls that exited non-zero or returned",
        "the wrong bytes.",
        "",
        burst_table(inv.bursts),
        "",
        "Goals (issues 7, 16 and 27):",
        "",
        *invocation_goals(inv),
    ]
