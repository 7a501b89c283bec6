"""The floors under the per-invocation calls: commands that do no plugin work, spawned as the calls are.

- the bare interpreter, ``python3 -I -S -c pass`` and ``python3 -I -c pass``:
  what no Python entry point can go under, and what ``site`` costs;
- with ``--greenplum-path FILE``, each of those through ``bash -c "source FILE
  && exec ..."`` as the calls are, and ``bash -c "source FILE && true"``
  (:data:`GREENPLUM_PATH_FLOOR`): what no plugin called as gprestore calls it
  can go under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.common import BIN, progress
from bench.harness.gpshell import greenplum_path_alone, through_greenplum_path
from bench.harness.measure import upload_processes

if TYPE_CHECKING:
    from bench.harness.data import Slice
    from bench.harness.measure import Usage
    from bench.harness.server import Bench

#: The interpreter alone, without and with ``site``: the floor under every Python entry point.
FLOORS = (("-I", "-S"), ("-I",))
#: The floor under every call through ``--greenplum-path``: bash sourcing it.
GREENPLUM_PATH_FLOOR = "bash + greenplum_path.sh"


@dataclass(frozen=True)
class Floor:
    """A command that does no plugin work, started as many times as a series' calls: what ``label`` says."""

    label: str
    usages: list[Usage]


def run_floor(bench: Bench, label: str, argv: list[str], count: int, source: Slice) -> Floor:
    """``argv`` ``count`` times, spawned as the calls are (an empty stdin)."""
    usages = [upload_processes([argv], bench.plugin_env(), [source])[1][0] for _ in range(count)]
    walls = sorted(u.wall for u in usages)
    progress(f"  {count} x {label}: median {walls[len(walls) // 2] * 1000:.1f} ms")
    return Floor(label, usages)


def run_floors(bench: Bench, count: int, source: Slice) -> list[Floor]:
    """The interpreter without and with ``site``, and bash sourcing ``--greenplum-path``, spawned as the calls are."""
    gp = bench.options.greenplum_path
    how = f", each after bash sources {gp}" if gp else ""
    progress(f"invocations: the bare interpreter {count} times, without and with site{how}")
    floors = []
    for flags in FLOORS:
        argv = through_greenplum_path(gp, [str(BIN / "python3"), *flags, "-c", "pass"])
        floors.append(run_floor(bench, f"python3 {' '.join(flags)} -c pass", argv, count, source))
    if gp:
        floors.append(run_floor(bench, GREENPLUM_PATH_FLOOR, greenplum_path_alone(gp), count, source))
    return floors
