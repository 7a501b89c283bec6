"""The Markdown sections of a run's results (:class:`~bench.results.Report`), as printed and as put in the doc.

Each kind of measurement has a field on :class:`~bench.results.Report` and a
``<kind>_section(report) -> list[str]`` renderer; :data:`RESULT_SECTIONS`
lists the renderers in page order; each kind's renderer lives in the
``report_<kind>`` module beside its measurement, the formatting they share in
:mod:`bench.harness.tables`.  A new table is a new field, a new renderer and
one more entry there (a renderer says "Not run" when its field is empty).
The page around the results is :mod:`bench.doc`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.catalogue.listing import catalogue_section
from bench.encryption.report_encryption import encryption_section
from bench.hostlimit.report_bandwidth import bandwidth_section
from bench.integrity.report_modes import modes_section
from bench.integrity.report_verify import verify_section
from bench.percall.report_invocations import invocations_section
from bench.throughput.report_segments import segments_section
from bench.throughput.report_singles import singles_section
from bench.throughput.report_subset import subset_section

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench.results import Report

__all__ = ["RESULT_SECTIONS", "results_text"]

# All result sections, in page order: a new kind of measurement adds its renderer here.

RESULT_SECTIONS: tuple[Callable[[Report], list[str]], ...] = (
    singles_section,
    modes_section,
    encryption_section,
    subset_section,
    verify_section,
    catalogue_section,
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
