"""The bandwidth section (:mod:`bench.hostlimit.bandwidth`): host limits shared by 8 streams, and a throttling store."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.harness.common import SEGMENTS, human
from bench.harness.tables import mb_per_s, table

if TYPE_CHECKING:
    from bench.hostlimit.bandwidth import BandwidthResult
    from bench.results import Report

#: The issue's goals: the host within 5 % of its limit, each of 8 equal streams within 20 % of its share.
HOST_GOAL = 0.05
STREAM_GOAL = 0.20


def _versus(rate: float, limit: int) -> str:
    return f"{(rate / limit - 1) * 100:+.1f}%"


def _limit_table(result: BandwidthResult) -> str:
    headers = ["limit", "direction", "batch wall s", "aggregate MB/s", "windows, all streams running, vs limit"]
    headers += ["highest window vs limit", "slowest / fastest stream MB/s", "stream spread vs share"]
    rows = []
    for b in result.limits:
        rates = b.stream_rates
        if b.limit:
            share = b.limit / len(rates)
            spread = max(abs(rate / share - 1) for rate in rates)
            windows = (
                f"{_versus(min(b.busy_windows), b.limit)} to {_versus(max(b.busy_windows), b.limit)}"
                f" ({len(b.busy_windows)} x {b.span:.1f} s)"
            )
            peak = _versus(b.peak_window, b.limit)
            spread_text = f"{spread * 100:.0f}%"
        else:
            windows = peak = spread_text = "-"
        rows.append([
            f"{b.limit / 1e6:.1f} MB/s" if b.limit else "none", b.direction, f"{b.wall:.2f}",
            f"{mb_per_s(b.nbytes, b.wall):.1f}", windows, peak, f"{min(rates) / 1e6:.1f} / {max(rates) / 1e6:.1f}",
            spread_text,
        ])  # fmt: skip
    return table(headers, rows)


def _throttle_table(result: BandwidthResult) -> str:
    headers = ["back-off", "503 above parts/s", "requests refused", "retries", "streams completed", "window changes"]
    headers += ["goodput MB/s", "wall s"]
    rows = []
    for t in result.throttles:
        done = t.nbytes * t.completed // t.streams
        rows.append([
            t.backoff, f"{t.per_second:g}", str(t.refused), str(t.retries), f"{t.completed}/{t.streams}",
            str(t.window_changes) if t.backoff == "host" else "-", f"{mb_per_s(done, t.wall):.1f}", f"{t.wall:.2f}",
        ])  # fmt: skip
    return table(headers, rows)


def bandwidth_lines(result: BandwidthResult) -> list[str]:
    lines = [
        "### Host bandwidth limits and back-off",
        "",
        f"{SEGMENTS} concurrent streams of {human(result.stream_size)} through one agent ({human(result.chunk)} parts),"
        " first without a limit, then with `host_upload_limit` / `host_download_limit` at half the unlimited"
        " aggregate. The host's rate is what the agent wrote (upload) or read (download), sampled from"
        " `/proc/PID/io` ten times a second: over every 10 s window while all the streams ran (one window as"
        " long as they ran, when that is shorter), and the highest such window of the whole batch, against the"
        f" limit (goal: within {HOST_GOAL * 100:.0f} % over 10 s)."
        " *Stream spread vs share* is the largest deviation of one stream's rate (its"
        f" bytes over its own wall time) from limit / {SEGMENTS} (goal: within {STREAM_GOAL * 100:.0f} %)."
        " Streams that finish early leave their share to the others, which then run faster than the share.",
        "",
        _limit_table(result),
    ]
    if result.throttles:
        lines += [
            "",
            "A store that throttles: the fault proxy answers `503 SlowDown` to part uploads above a fixed rate"
            f" (half the unlimited part rate); {SEGMENTS} concurrent uploads with one back-off for the host,"
            " then with each stream backing off alone (botocore's retries only, the behaviour before), same run."
            " *Retries* are part attempts beyond one per part; *goodput* the completed streams' bytes over the"
            " batch's wall time.",
            "",
            _throttle_table(result),
        ]
    else:
        lines += ["", "The throttling measurement runs on the run's own server only (not with `--endpoint`)."]
    return lines


def bandwidth_section(report: Report) -> list[str]:
    if report.bandwidth is None:
        return ["### Host bandwidth limits and back-off", "", "Not run."]
    return bandwidth_lines(report.bandwidth)
