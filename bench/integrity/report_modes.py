"""The store-modes section (:mod:`bench.integrity.modes`): gps3async's upload in each ``payload_signing`` and
``upload_checksum``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import human
from bench.harness.tables import cpu_per_gib, cpu_text, mb_per_s, mib, table

if TYPE_CHECKING:
    from bench.integrity.blockcheck import BlockCheckResult, CheckWork
    from bench.integrity.modes import ModeResult
    from bench.results import Report


def modes_table(results: list[ModeResult]) -> str:
    headers = ["payload_signing", "upload_checksum", "server verifies", "wall s", "client CPU s", "CPU s/GiB"]
    headers += ["vs unsigned/crc32c", "MB/s", "peak RSS MiB", "server CPU s", "note"]
    default = cpu_per_gib(results[0].result.cpu, results[0].result.nbytes)
    rows = []
    for m in results:
        r = m.result
        per_gib = cpu_per_gib(r.cpu, r.nbytes)
        rows.append([
            m.payload_signing, m.upload_checksum, m.verified or "-", f"{r.usage.wall:.2f}", f"{r.cpu:.2f}",
            f"{per_gib:.2f}",
            f"{per_gib - default:+.2f}", f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", mib(r.rss),
            cpu_text(r.server_cpu), m.note or "-",
        ])  # fmt: skip
    return table(headers, rows)


def block_check_table(results: list[BlockCheckResult]) -> str:
    headers = ["restore checks", "wall s", "client CPU s", "CPU s/GiB", "vs whole only", "MB/s", "peak RSS MiB"]
    whole = cpu_per_gib(results[-1].result.cpu, results[-1].result.nbytes)
    rows = []
    for b in results:
        r = b.result
        per_gib = cpu_per_gib(r.cpu, r.nbytes)
        rows.append([
            b.label, f"{r.usage.wall:.2f}", f"{r.cpu:.2f}", f"{per_gib:.3f}", f"{per_gib - whole:+.3f}",
            f"{mb_per_s(r.nbytes, r.usage.wall):.1f}", mib(r.rss),
        ])  # fmt: skip
    return table(headers, rows)


def block_check_lines(report: Report) -> list[str]:
    if not report.block_checks:
        return []
    return [
        "",
        "Restore with block verification (docs/integrity.md): the same object restored with its per-block",
        "CRC-32Cs and again with only the whole-object CRC-32C an earlier release recorded, in turn, each",
        f"the least client CPU of {report.block_checks[0].runs} runs."
        "  **vs whole only** is the extra client CPU s/GiB of checking every 1 MiB block before it is written",
        "(the goal: under 0.1); whole restores through a pipe vary by about 0.1 CPU s/GiB from run to run here.",
        "",
        block_check_table(report.block_checks),
        *_work_lines(report.block_check_work),
    ]


def _work_lines(work: CheckWork | None) -> list[str]:
    if work is None:
        return []
    return [
        "",
        f"The digest work alone, on the same bytes in GET-sized pieces in one thread (least of 3 passes): the"
        f" CRC-32C a restore without block digests computes, {work.whole_only:.3f} CPU s/GiB; every block's"
        f" CRC-32C checked and combined, {work.every_block:.3f}; the block check's own cost"
        f" **{work.every_block - work.whole_only:+.3f} CPU s/GiB**.",
    ]


def modes_section(report: Report) -> list[str]:
    o = report.options
    title = f"## Store modes: gps3async uploads {human(o.size)}, {human(o.chunk)} parts, {o.concurrency} in flight"
    if not report.modes:
        return [title, "", "Not run (`--skip-modes`, `--segments-only` or `--invocations-only`)."]
    return [
        title,
        "",
        "One upload per `payload_signing` and `upload_checksum` (README, Config options), each through its own",
        "agent and charged its CPU like the single-stream table.  **vs unsigned/crc32c** is the extra client CPU",
        "s/GiB: what the SHA-256 (`signed`) and MD5 (`md5`) of every part cost, computed in worker threads while",
        "other parts upload.  **server verifies**: whether this server refuses a body that does not match the",
        "mode's digest (found by the plugin's probes, one upload with a deliberately wrong digest each; `no`: it",
        "accepts the digest and does not check it).  `auto`, the default, uploads in the cheapest verified mode.",
        "Restores are the same in every mode.",
        "",
        modes_table(report.modes),
        *block_check_lines(report),
    ]
