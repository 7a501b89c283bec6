"""The benchmark harness: gps3async against s5cmd, ``aws s3 cp`` and rclone on one S3 store.

By default it starts a local S3 server; ``--endpoint``, ``--bucket`` and
``--prefix`` point it at any S3 store instead (:mod:`bench.harness.target`).

This module is the entry point only: :func:`main` parses the options, makes the
test data, runs the measurements on one server (:func:`run`), prints the result
tables and writes ``docs/benchmarks.md``.  The parts live beside it, grouped by what they measure:

- :mod:`bench.harness`: what every section shares: units and errors (``common``), the data file and its
  slices (``data``), spawning and measuring tools (``measure``, ``launch``), the run's store and its target
  (``server``, ``target``), the clients' command lines (``tools``), the agent's share (``agentstats``), the
  machine facts (``machine``) and table formatting (``tables``)
- :mod:`bench.throughput`: the single-stream comparison of all tools (``singles``), the segment-host mode
  (``segments``) and ``restore_data_subset`` against a whole-object restore (``subset``)
- :mod:`bench.integrity`: the upload in each store mode (``modes``), the restore with and without per-block
  verification (``blockcheck``) and ``verify --deep`` against a plain restore (``verifyset``)
- :mod:`bench.encryption`: upload and restore with client-side encryption off and on (``encrypted``)
- :mod:`bench.hostlimit`: host bandwidth limits shared by 8 streams, and a throttling store met by one
  back-off per host against each stream alone (``bandwidth``)
- :mod:`bench.percall`: the per-invocation cost of tiny calls, in sequence and 64 at once (``invocations``)
- :mod:`bench.options`: the command line; :mod:`bench.results`: :class:`~bench.results.Report`;
  :mod:`bench.report`: the result sections in page order, each rendered by the ``report_<kind>`` module
  beside its measurement; :mod:`bench.doc`: the page around them

A new kind of measurement is a module like :mod:`bench.throughput.singles` that returns
its results, one step in :func:`run` storing them on a new
:class:`~bench.report.Report` field, and a section renderer (a ``report_<kind>.py`` beside it)
added to :data:`bench.report.RESULT_SECTIONS`.

Usage: ``python -m bench.run [--size 1GiB] [--chunk 8MiB] [--concurrency 4]
[--repeat N] [--invocations N] [--segments-only | --skip-segments | --invocations-only | --modes-only |
--verify-only | --encryption-only] [--skip-invocations] [--skip-subset] [--skip-modes] [--skip-verify]
[--skip-encryption] [--skip-bandwidth] [--skip-catalogue] [--no-write-doc]
[--go-plugin PATH] [--greenplum-path FILE]
[--endpoint URL --bucket NAME --prefix PREFIX [--region REGION]]``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from bench.catalogue.listing import CATALOGUE_SETS, run_catalogue
from bench.doc import render_doc
from bench.encryption.encrypted import run_encryption
from bench.harness.common import DOC, REPO, BenchError, human, progress
from bench.harness.data import ensure_data, make_slice
from bench.harness.machine import machine
from bench.harness.server import running_server
from bench.harness.tools import TOOLS
from bench.hostlimit.bandwidth import run_bandwidth
from bench.integrity.blockcheck import check_work, run_block_check
from bench.integrity.modes import run_modes
from bench.integrity.verifyset import run_verify
from bench.options import parse_args
from bench.percall.invocations import run_invocations
from bench.report import results_text
from bench.results import Report
from bench.throughput.segments import run_segments
from bench.throughput.singles import run_singles
from bench.throughput.subset import run_subset

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
