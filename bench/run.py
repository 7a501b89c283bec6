"""The benchmark harness: gps3async against s5cmd, ``aws s3 cp`` and rclone on one S3 store.

By default it starts a local S3 server; ``--endpoint``, ``--bucket`` and
``--prefix`` point it at any S3 store instead (:mod:`bench.target`).

This module is the entry point only: :func:`main` parses the options, makes the
test data, runs the measurements on one server (:func:`run`), prints the result
tables and writes ``docs/benchmarks.md``.  The parts live beside it:

- :mod:`bench.common`: units, paths, the segment-mode shape, ``BenchError``, ``progress``
- :mod:`bench.options`: the command line
- :mod:`bench.data`: the incompressible data file and its checksummed slices
- :mod:`bench.measure`: spawning tools under :mod:`bench.launch`, feeding, draining, reaping, verifying
- :mod:`bench.server`: the run's store (a local ``rclone serve s3`` or the user's) and :class:`~bench.server.Bench`
- :mod:`bench.target`: :class:`~bench.target.Target`, where the run reads and writes, and its credentials
- :mod:`bench.tools`: every client's command lines and the plugin config
- :mod:`bench.singles`: the single-stream comparison of all tools
- :mod:`bench.subset`: ``restore_data_subset`` of 10,000 small ranges against a whole-object restore
- :mod:`bench.modes`: gps3async's upload in each ``payload_signing`` and ``upload_checksum`` mode
- :mod:`bench.blockcheck`: gps3async's restore with and without per-block verification (same object)
- :mod:`bench.verifyset`: ``verify --deep`` of a backup set against a plain restore of the same backup
- :mod:`bench.encrypted`: gps3async's upload and restore with client-side encryption off and on
- :mod:`bench.segments`: the segment-host mode (8 plugin processes at once), through the agent and without
- :mod:`bench.bandwidth`: host bandwidth limits shared by 8 streams through one agent, and a throttling store
  met by one back-off per host against each stream alone
- :mod:`bench.invocations`: the per-invocation cost of tiny calls, in sequence and 64 at once
- :mod:`bench.agentstats`: charging gps3async's per-host agent its CPU and memory, in directories of the run's own
- :mod:`bench.machine`: the machine and version facts
- :mod:`bench.results`: :class:`~bench.results.Report`; :mod:`bench.report`: the result sections in page order; each
  section's renderer in ``bench/report_<kind>.py``, the formatting they share in :mod:`bench.tables`
- :mod:`bench.doc`: the page around them

A new kind of measurement is a module like :mod:`bench.singles` that returns
its results, one step in :func:`run` storing them on a new
:class:`~bench.report.Report` field, and a section renderer (a ``bench/report_<kind>.py``)
added to :data:`bench.report.RESULT_SECTIONS`.

Usage: ``python -m bench.run [--size 1GiB] [--chunk 8MiB] [--concurrency 4]
[--repeat N] [--invocations N] [--segments-only | --skip-segments | --invocations-only | --modes-only |
--verify-only | --encryption-only] [--skip-invocations] [--skip-subset] [--skip-modes] [--skip-verify]
[--skip-encryption] [--skip-bandwidth] [--skip-catalogue] [--no-write-doc]
[--endpoint URL --bucket NAME --prefix PREFIX [--region REGION]]``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bench.bandwidth import run_bandwidth
from bench.blockcheck import check_work, run_block_check
from bench.catalogue import CATALOGUE_SETS, run_catalogue
from bench.common import DOC, REPO, BenchError, human, progress
from bench.data import ensure_data, make_slice
from bench.doc import render_doc
from bench.encrypted import run_encryption
from bench.invocations import run_invocations
from bench.machine import machine
from bench.modes import run_modes
from bench.options import parse_args
from bench.report import results_text
from bench.results import Report
from bench.segments import run_segments
from bench.server import running_server
from bench.singles import run_singles
from bench.subset import run_subset
from bench.tools import TOOLS
from bench.verifyset import run_verify

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from bench.options import Options


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
    """Every measurement the options ask for, on one server; a new measurement adds its step here."""
    with running_server(options) as bench:
        tools = [make(bench) for make in TOOLS]
        report = Report(options, machine(bench), tools, bench.target.endpoint, bench.home, bench.target.remote)
        if options.singles:
            report.singles = run_singles(bench, tools, make_slice(data, 0, options.size))
        if options.subset:
            ours = next(tool for tool in tools if tool.name == "gps3async")
            report.subsets = run_subset(bench, ours, make_slice(data, 0, options.size))
        if options.modes:
            report.modes = run_modes(bench, make_slice(data, 0, options.size))
            report.block_checks = run_block_check(bench, make_slice(data, 0, options.size))
            report.block_check_work = check_work(make_slice(data, 0, options.size), options.chunk)
        if options.verify:
            report.verifies = run_verify(bench, make_slice(data, 0, options.size))
        if options.encryption:
            report.encryption = run_encryption(bench, make_slice(data, 0, options.size))
        if options.segments:
            report.batches = run_segments(bench, data)
        if options.bandwidth:
            report.bandwidth = run_bandwidth(bench, data)
        if options.catalogue:
            report.catalogue = run_catalogue(bench, CATALOGUE_SETS, options.repeat)
        if options.run_invocations:
            report.invocations = run_invocations(bench, data)
    return report


if __name__ == "__main__":
    sys.exit(main())
