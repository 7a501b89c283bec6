"""What each store mode costs: gps3async uploads the object once per ``payload_signing`` and ``upload_checksum``.

The modes that make the plugin work with older and on-premises stores hash
every body once more (SHA-256 for ``signed``, MD5 for ``md5``; the CRC-32C is
computed in every mode).  Each mode uploads the same object through its own
agent (a config of its own is an agent of its own), warmed first and charged
to the transfer like the single-stream table's, each the fastest of
``--repeat`` runs and each checked by stored size.  Restores do not change with
the mode (a signed GET carries the constant hash of an empty body), so only
uploads are measured.  Before the uploads, the plugin's own probes
(:func:`gps3async.s3.storemodes.probe.probe_findings`: one upload with a deliberately
wrong digest each) find which modes the server verifies, and a last row
uploads with ``auto`` (the default), which picks the cheapest verified mode.
Rendered by :func:`bench.integrity.report_modes.modes_section`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from bench.harness.common import progress
from bench.harness.server import delete_prefix
from bench.harness.tools import gps3async_tool, plugin_config
from bench.throughput.singles import best, upload_once
from gps3async.core.configfile import load_config
from gps3async.core.storemodes.settings import StoreModes
from gps3async.core.storemodes.verified import Findings, choose, mode_accepted, mode_verified
from gps3async.s3.storemodes.probe import probe_findings, sha_accelerated

if TYPE_CHECKING:
    from bench.harness.data import Slice
    from bench.harness.server import Bench
    from bench.throughput.singles import Result

#: The modes measured, the cheapest first; signed + md5 is what the Go plugin sends over plain HTTP; ``auto``
#: (the default) last, with the mode it picked in its note.
MODES = (
    ("unsigned", "crc32c", ""),
    ("signed", "crc32c", ""),
    ("unsigned", "md5", ""),
    ("signed", "md5", "as the Go plugin over HTTP"),
    ("unsigned", "none", ""),
    ("auto", "auto", "default"),
)


@dataclass(frozen=True)
class ModeResult:
    payload_signing: str
    upload_checksum: str
    note: str
    result: Result
    #: Whether the server verifies the mode on arrival: "yes", "no" (accepts, does not check) or "refused".
    verified: str = ""


def server_findings(bench: Bench) -> Findings:
    """What the server verifies, by the plugin's own probes (:mod:`gps3async.s3.storemodes.probe`)."""
    path = plugin_config(bench, bench.home / "m-probe.yaml", "m-probe", None, None)
    config = load_config(str(path), environ=bench.env())
    return anyio.run(probe_findings, config)


def _verified(findings: Findings, modes: StoreModes) -> str:
    if not mode_accepted(findings, modes):
        return "refused"
    return "yes" if mode_verified(findings, modes) else "no"


def run_modes(bench: Bench, source: Slice) -> list[ModeResult]:
    progress("store modes (gps3async uploads):")
    findings = server_findings(bench)
    choice = choose(findings, sha_accelerated=sha_accelerated())
    progress(f"  the server: {findings.describe()}; auto picks {choice.modes.describe()}")
    results = []
    for signing, checksum, note in MODES:
        modes = choice.modes if signing == "auto" else StoreModes(signing, checksum)
        if signing == "auto":
            picked = f"{choice.modes.payload_signing}/{choice.modes.upload_checksum}"
            note = f"default; picks {picked}" + ("" if choice.verified else " (verifies none)")
        result = measure_mode(bench, source, signing, checksum)
        progress(f"  payload_signing {signing}, upload_checksum {checksum}: {result.usage.wall:.2f} s")
        results.append(ModeResult(signing, checksum, note, result, _verified(findings, modes)))
    return results


def measure_mode(bench: Bench, source: Slice, signing: str, checksum: str) -> Result:
    folder = f"m-{signing[0]}{checksum}"  # short: the agent's socket path under it must fit 107 bytes
    tool = gps3async_tool(bench, folder, payload_signing=signing, upload_checksum=checksum)
    try:
        return best(lambda: upload_once(bench, tool, source), bench.options.repeat)
    finally:
        delete_prefix(bench, tool.key)
