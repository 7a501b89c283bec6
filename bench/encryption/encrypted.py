"""What client-side encryption costs: gps3async's upload and restore of one object, plain and encrypted.

Both configs go through their own agent (a config of its own is an agent of
its own), warmed first and charged to the transfer like the single-stream
table's, each the fastest of ``--repeat`` runs, in the same run.  The
encrypted upload is checked by stored size (the plaintext plus the format's
header and tags) and the restore by the bytes' CRC.  Rendered by
:func:`bench.encryption.report_encryption.encryption_section`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.agentstats import charged
from bench.harness.common import BenchError, progress
from bench.harness.measure import upload_processes
from bench.harness.server import delete_prefix, object_size
from bench.harness.tools import gps3async_tool
from bench.throughput.singles import Result, best, download_once
from gps3async.core.encryption.format import SEGMENT_SIZE, Layout

if TYPE_CHECKING:
    from bench.harness.data import Slice
    from bench.harness.server import Bench
    from bench.harness.tools import Tool


@dataclass(frozen=True)
class EncryptionResult:
    #: ``off`` or ``aes-256-gcm``.
    cipher: str
    upload: Result
    download: Result


def run_encryption(bench: Bench, source: Slice) -> list[EncryptionResult]:
    progress("client-side encryption (gps3async, plain and encrypted):")
    key_file = bench.home / "bench-encryption.key"
    key_file.write_text(os.urandom(32).hex() + "\n")
    key_file.chmod(0o600)
    results = []
    for cipher, folder, extra in (
        ("off", "e-off", {}),
        ("aes-256-gcm", "e-aes", {"client_side_encryption": "aes-256-gcm", "encryption_key_file": str(key_file)}),
    ):
        tool = gps3async_tool(bench, folder, **extra)
        try:
            upload = best(lambda: _upload_once(bench, tool, source, cipher), bench.options.repeat)  # noqa: B023
            download = best(lambda: download_once(bench, tool, source), bench.options.repeat)  # noqa: B023
        finally:
            delete_prefix(bench, tool.key)
        results.append(EncryptionResult(cipher, upload, download))
    return results


def _upload_once(bench: Bench, tool: Tool, source: Slice, cipher: str) -> Result:
    with charged(tool.agents) as agent:
        before = bench.server_cpu()
        _, (usage,) = upload_processes([tool.upload], tool.env, [source])
        server_cpu = bench.server_cpu_since(before)
    expected = source.length if cipher == "off" else Layout(SEGMENT_SIZE).stored_size(source.length)
    stored = object_size(bench, tool.key)
    if stored != expected:
        raise BenchError(f"gps3async ({cipher}) stored {stored} bytes at {tool.key}, not {expected}")
    progress(f"  {cipher} upload: {usage.wall:.2f} s")
    return Result(tool.name, "upload", source.length, usage, server_cpu, agent.usage)
