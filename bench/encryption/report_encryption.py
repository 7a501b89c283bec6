"""The client-side encryption section (:mod:`bench.encryption.encrypted`): plain and encrypted, same run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import human
from bench.harness.tables import cpu_per_gib, cpu_text, mb_per_s, mib, table

if TYPE_CHECKING:
    from bench.encryption.encrypted import EncryptionResult
    from bench.results import Report


def encryption_table(results: list[EncryptionResult]) -> str:
    headers = ["client_side_encryption", "direction", "wall s", "client CPU s", "CPU s/GiB", "vs plain", "MB/s"]
    headers += ["peak RSS MiB", "server CPU s"]
    rows = []
    for direction in ("upload", "download"):
        plain = None
        for e in results:
            r = e.upload if direction == "upload" else e.download
            per_gib = cpu_per_gib(r.cpu, r.nbytes)
            plain = per_gib if plain is None else plain
            rows.append([
                e.cipher, direction, f"{r.usage.wall:.2f}", f"{r.cpu:.2f}", f"{per_gib:.2f}",
                f"{per_gib - plain:+.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", mib(r.rss),
                cpu_text(r.server_cpu),
            ])  # fmt: skip
    return table(headers, rows)


def encryption_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Client-side encryption: gps3async moves {human(o.size)} plain and encrypted"
    if not report.encryption:
        return [title, "", "Not run (`--skip-encryption` or another `--*-only`)."]
    return [
        title,
        "",
        "The same object uploaded and restored with `client_side_encryption` off and `aes-256-gcm`",
        "(docs/encryption.md), each through its own agent and charged its CPU like the single-stream table.",
        "**vs plain** is the extra client CPU s/GiB of sealing (upload) and opening (download) the 1 MiB",
        "AES-256-GCM segments; the issue's goal is at most +0.30 in each direction.",
        "",
        encryption_table(report.encryption),
    ]
