"""The ``verify --deep`` section (:mod:`bench.integrity.verifyset`): reading a backup set back against restoring it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import human
from bench.harness.tables import cpu_per_gib, mb_per_s, table

if TYPE_CHECKING:
    from bench.results import Report


def verify_section(report: Report) -> list[str]:
    title = f"## verify --deep against a plain restore of the same backup ({human(report.options.size)})"
    if not report.verifies:
        return [title, "", "Not run (`--skip-verify`, `--segments-only`, `--invocations-only` or `--modes-only`)."]
    headers = ["call", "MiB", "wall s", "MB/s", "client CPU s", "CPU s per GiB", "x restore CPU per GiB"]
    restore_cpu = cpu_per_gib(report.verifies[0].cpu, report.verifies[0].nbytes)
    rows = [
        [
            r.what, f"{r.nbytes / 2**20:.0f}", f"{r.usage.wall:.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}",
            f"{r.cpu:.2f}", f"{cpu_per_gib(r.cpu, r.nbytes):.2f}", f"{cpu_per_gib(r.cpu, r.nbytes) / restore_cpu:.2f}",
        ]
        for r in report.verifies
    ]  # fmt: skip
    return [
        title,
        "",
        f"gps3async through its agent, {human(report.options.chunk)} GETs, {report.options.concurrency} in flight per"
        " object. A one-segment `--single-data-file` backup set written through the plugin's verbs; *restore_data*"
        " streams its data file to a pipe the harness drains, *verify --deep* lists the set, checks every object's"
        " record and reads every byte back (into nothing) checking every digest. *Client CPU* is the plugin call's"
        " plus its agent's. Each the fastest of `--repeat` runs.",
        "",
        table(headers, rows),
    ]
