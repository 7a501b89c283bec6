"""What each store mode costs: gps3async uploads the object once per ``payload_signing`` and ``upload_checksum``.

The modes that make the plugin work with older and on-premises stores hash
every body once more (SHA-256 for ``signed``, MD5 for ``md5``; the CRC-32C is
computed in every mode).  Each mode uploads the same object through its own
agent (a config of its own is an agent of its own), warmed first and charged
to the transfer like the single-stream table's, each the fastest of
``--repeat`` runs and each checked by stored size.  Restores do not change with
the mode (a signed GET carries the constant hash of an empty body), so only
uploads are measured.  Rendered by :func:`bench.report_modes.modes_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.common import progress
from bench.server import delete_prefix
from bench.singles import best, upload_once
from bench.tools import gps3async_tool

if TYPE_CHECKING:
    from bench.data import Slice
    from bench.server import Bench
    from bench.singles import Result

#: The modes measured, the default first; signed + md5 is what the Go plugin sends over plain HTTP.
MODES = (
    ("unsigned", "crc32c", "default"),
    ("signed", "crc32c", ""),
    ("unsigned", "md5", ""),
    ("signed", "md5", "as the Go plugin over HTTP"),
    ("unsigned", "none", ""),
)


@dataclass(frozen=True)
class ModeResult:
    payload_signing: str
    upload_checksum: str
    note: str
    result: Result


def run_modes(bench: Bench, source: Slice) -> list[ModeResult]:
    progress("store modes (gps3async uploads):")
    results = []
    for signing, checksum, note in MODES:
        result = measure_mode(bench, source, signing, checksum)
        progress(f"  payload_signing {signing}, upload_checksum {checksum}: {result.usage.wall:.2f} s")
        results.append(ModeResult(signing, checksum, note, result))
    return results


def measure_mode(bench: Bench, source: Slice, signing: str, checksum: str) -> Result:
    folder = f"m-{signing[0]}{checksum}"  # short: the agent's socket path under it must fit 107 bytes
    tool = gps3async_tool(bench, folder, payload_signing=signing, upload_checksum=checksum)
    try:
        return best(lambda: upload_once(bench, tool, source), bench.options.repeat)
    finally:
        delete_prefix(bench, tool.key)
