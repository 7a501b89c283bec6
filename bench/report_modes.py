"""The store-modes section (:mod:`bench.modes`): gps3async's upload in each ``payload_signing`` and
``upload_checksum``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.common import human
from bench.tables import cpu_per_gib, cpu_text, mb_per_s, mib, table

if TYPE_CHECKING:
    from bench.modes import ModeResult
    from bench.results import Report


def modes_table(results: list[ModeResult]) -> str:
    headers = ["payload_signing", "upload_checksum", "wall s", "client CPU s", "CPU s/GiB", "vs default", "MB/s"]
    headers += ["peak RSS MiB", "server CPU s", "note"]
    default = cpu_per_gib(results[0].result.cpu, results[0].result.nbytes)
    rows = []
    for m in results:
        r = m.result
        per_gib = cpu_per_gib(r.cpu, r.nbytes)
        rows.append([
            m.payload_signing, m.upload_checksum, f"{r.usage.wall:.2f}", f"{r.cpu:.2f}", f"{per_gib:.2f}",
            f"{per_gib - default:+.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", mib(r.rss),
            cpu_text(r.server_cpu), m.note or "-",
        ])  # fmt: skip
    return table(headers, rows)


def modes_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Store modes: gps3async uploads {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} in flight"
    if not report.modes:
        return [title, "", "Not run (`--skip-modes`, `--segments-only` or `--invocations-only`)."]
    return [
        title,
        "",
        "One upload per `payload_signing` and `upload_checksum` (README, Config options), each through its own",
        "agent and charged its CPU like the single-stream table.  **vs default** is the extra client CPU s/GiB",
        "over `unsigned`/`crc32c`: what the SHA-256 (`signed`) and MD5 (`md5`) of every part cost, computed",
        "in worker threads while other parts upload.  Restores are the same in every mode.",
        "",
        modes_table(report.modes),
    ]
