"""Formatting and goals shared by the result sections of :mod:`bench.report`: Markdown tables, units, bounds."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

from bench.harness.common import GIB, MB, MIB, human

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from bench.harness.agentstats import AgentUsage
    from bench.harness.measure import Usage


#: gps3async's documented memory bound is chunk x (concurrency + 1) plus this, per stream.
RSS_ALLOWANCE = 80 * MIB
#: The issue's bound on the thin client that hands a call to the agent (as tests/cli/test_memory_bound.py).
CLIENT_RSS_GOAL = 15 * MIB
#: Issue 16's goal for the median wall time of one tiny call through a warm agent: the Go plugin's, per verb
#: (1.10.1 built with Go 1.27, median of sequential 1 KiB calls on a 2-core machine; not measured by this bench,
#: which has no Go plugin: compare on the same machine).
INVOCATION_GOALS = {"backup_data": 0.023, "restore_data": 0.018}
#: Issue 27's goal: the native client's median through a warm agent at most this times the Go plugin's, per verb.
NATIVE_GO_RATIO_GOAL = 0.6
#: Issue 16: a call's p95 at most this many times its median.
P95_SPREAD_GOAL = 1.5
#: The issue's goal: 8 processes through one agent cost at most this much more CPU per GiB than one stream.
SEGMENT_CPU_GOAL = 0.10
#: The other clients; "x fastest peer" compares against the fastest of these.
PEERS = ("s5cmd", "aws s3 cp", "rclone")
DIRECTIONS = ("upload", "download")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded so it also reads well in a terminal; numbers align right."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    numeric = [all(re.fullmatch(r"[-+\d.,x%]+", row[i]) for row in rows) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        padded = [cell.rjust(w) if num else cell.ljust(w) for cell, w, num in zip(cells, widths, numeric)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def cpu_text(seconds: float | None) -> str:
    """Server CPU seconds, or ``n/a`` on a store the run did not start."""
    return "n/a" if seconds is None else f"{seconds:.2f}"


def mb_per_s(nbytes: int, wall: float) -> float:
    return nbytes / wall / MB


def cpu_per_gib(cpu: float, nbytes: int) -> float:
    return cpu / (nbytes / GIB)


def rss_bound(chunk: int, concurrency: int) -> int:
    return chunk * (concurrency + 1) + RSS_ALLOWANCE


def bound_text(chunk: int, concurrency: int, streams: int = 1) -> str:
    bound = rss_bound(chunk, concurrency) * streams
    per_stream = f"{human(chunk)} x ({concurrency} + 1) + 80 MiB"
    total = f"{bound / MIB:.0f} MiB"
    return f"{streams} x ({per_stream}) = {total}" if streams > 1 else f"{per_stream} = {total}"


def mib(nbytes: int) -> str:
    return f"{nbytes / MIB:.0f}"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``0.5``: the median; ``0.95``: p95) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def within(value: int, bound: int) -> str:
    return f"{value / MIB:.0f} MiB ({'within' if value <= bound else 'OVER'})"


def thin_client_within(rss: int) -> str:
    """A thin client's peak RSS against :data:`CLIENT_RSS_GOAL`, as every table that has one says it."""
    return f"{within(rss, CLIENT_RSS_GOAL)} of {CLIENT_RSS_GOAL / MIB:.0f} MiB"


def client_peak(usages: Sequence[Usage]) -> int:
    return max(u.max_rss for u in usages)


def agent_cell(agent: AgentUsage | None, value: Callable[[AgentUsage], str]) -> str:
    return value(agent) if agent else "-"
