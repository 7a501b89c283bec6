"""The results of a run (:class:`Report`) and their Markdown sections, as printed and as put in the doc.

Each kind of measurement has a field on :class:`Report` and a
``<kind>_section(report) -> list[str]`` renderer; :data:`RESULT_SECTIONS`
lists the renderers in page order; each kind's renderer lives in
``bench/report_<kind>.py``, the formatting they share in :mod:`bench.tables`.  A new table is a new field, a new
renderer and one more entry there (a renderer says "Not run" when its field
is empty).  The page around the results is :mod:`bench.doc`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.report_bandwidth import bandwidth_section
from bench.report_encryption import encryption_section
from bench.report_invocations import invocations_section
from bench.report_modes import modes_section
from bench.report_segments import segments_section
from bench.report_singles import singles_section
from bench.report_subset import subset_section
from bench.report_verify import verify_section

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.bandwidth import BandwidthResult
    from bench.blockcheck import BlockCheckResult
    from bench.encrypted import EncryptionResult
    from bench.invocations import Invocations
    from bench.modes import ModeResult
    from bench.options import Options
    from bench.segments import Batch
    from bench.singles import Result
    from bench.subset import SubsetResult
    from bench.tools import Tool
    from bench.verifyset import VerifyResult


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
    verifies: list[VerifyResult] = field(default_factory=list)
    encryption: list[EncryptionResult] = field(default_factory=list)
    invocations: Invocations | None = None
    bandwidth: BandwidthResult | None = None
    date: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    )


# All result sections, in page order: a new kind of measurement adds its renderer here.

RESULT_SECTIONS: tuple[Callable[[Report], list[str]], ...] = (
    singles_section,
    modes_section,
    encryption_section,
    subset_section,
    verify_section,
    segments_section,
    bandwidth_section,
    invocations_section,
)


def results_text(report: Report) -> str:
    """The result sections, separated by a blank line: what ``bench.run`` prints and the doc's middle."""
    lines: list[str] = []
    for section in RESULT_SECTIONS:
        if lines:
            lines.append("")
        lines += section(report)
    return "\n".join(lines) + "\n"
