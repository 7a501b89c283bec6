"""The results of a run (:class:`Report`): one field per kind of measurement.

Its own module, below the renderers: every ``bench/report_<kind>.py`` reads a
:class:`Report`, and :mod:`bench.report` imports every renderer, so keeping the
type in :mod:`bench.report` made each renderer and that module import each
other.  A new kind of measurement adds a field here and a renderer in
:mod:`bench.report`'s list.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from bench.encryption.encrypted import EncryptionResult
    from bench.harness.tools import Tool
    from bench.hostlimit.bandwidth import BandwidthResult
    from bench.integrity.blockcheck import BlockCheckResult, CheckWork
    from bench.integrity.modes import ModeResult
    from bench.integrity.verifyset import VerifyResult
    from bench.options import Options
    from bench.percall.invocations import Invocations
    from bench.throughput.segments import Batch
    from bench.throughput.singles import Result
    from bench.throughput.subset import SubsetResult

__all__ = ["Report"]


@dataclass
class Report:
    """Everything the printed tables and ``docs/benchmarks.md`` are rendered from: one field per measurement."""

    options: Options
    machine: list[tuple[str, str]]
    tools: list[Tool]
    endpoint: str
    home: Path
    #: Measured on the user's store (``--endpoint``), whose server CPU is not ours to see.
    remote: bool = False
    singles: list[Result] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    subsets: list[SubsetResult] = field(default_factory=list)
    modes: list[ModeResult] = field(default_factory=list)
    block_checks: list[BlockCheckResult] = field(default_factory=list)
    block_check_work: CheckWork | None = None
    verifies: list[VerifyResult] = field(default_factory=list)
    encryption: list[EncryptionResult] = field(default_factory=list)
    invocations: Invocations | None = None
    bandwidth: BandwidthResult | None = None
    #: ``list`` of a folder of many backup sets: one row per call (:mod:`bench.catalogue.listing`).
    catalogue: list[list[str]] = field(default_factory=list)
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )
