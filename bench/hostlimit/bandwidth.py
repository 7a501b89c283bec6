"""Host bandwidth limits and the host's shared back-off (issue 18), measured with 8 streams through one agent.

Two measurements, rendered by :func:`bench.hostlimit.report_bandwidth.bandwidth_section`:

- **limit**: 8 concurrent uploads, then 8 concurrent downloads, through one
  agent without a limit, then through another agent whose
  ``host_upload_limit`` / ``host_download_limit`` is half the unlimited
  aggregate just measured: the limited aggregate against the limit, and each
  stream's rate (its bytes over its process's wall time) against its share.
- **throttling**: a :class:`~tests.faults.proxy.FaultProxy` in front of the
  run's server answers ``503 SlowDown`` to part uploads above a fixed rate
  (half the part rate of the unlimited upload).  8 concurrent uploads with the
  host's shared back-off, then with each stream backing off alone (botocore's
  retries only, today's behaviour, selected by the agent's internal
  ``GPS3ASYNC_BACKOFF=per-stream``), in the same run against the same proxy:
  requests refused, retries, streams that gave up, goodput and wall time.

The proxy speaks plain HTTP to a local upstream, so the throttling measurement
runs on the run's own server only (not with ``--endpoint``).
``python -m bench.hostlimit --stream-size 16MiB`` runs just these, small.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from bench.harness.agentstats import AgentHome, charged
from bench.harness.common import BIN, SEGMENT_SIZE, SEGMENTS, human, progress
from bench.harness.data import make_slice
from bench.harness.measure import download_processes, upload_endings, upload_processes
from bench.harness.server import delete_prefix
from bench.harness.tools import gpbackup_path, plugin_config
from bench.hostlimit.iorate import IoSampler, window_rates
from gps3async.core.config import DEFAULT_CHUNKSIZE
from gps3async.runtime.bandwidth import BACKOFF_ENV
from tests.faults.proxy import FaultProxy, error

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.harness.data import Slice
    from bench.harness.measure import Usage
    from bench.harness.server import Bench

#: The window over which the host must stay within 5 % of its limit.
WINDOW_SECONDS = 10.0
#: The part uploads the throttling proxy counts (and refuses above its rate).
UPLOAD_PART = r"[?&]partNumber="


@dataclass(frozen=True)
class LimitBatch:
    """One direction's 8 streams through one agent, with ``limit`` bytes/s for the host (``None``: no limit)."""

    direction: str
    limit: int | None
    nbytes: int
    wall: float
    usages: list[Usage]
    #: The windows' length: 10 s, or the time all the streams ran if that was shorter.
    span: float
    #: The host's rate over every ``span`` window while all the streams ran (bytes/s).
    busy_windows: list[float]
    #: The host's highest rate over any ``span`` window of the batch (bytes/s).
    peak_window: float

    @property
    def stream_rates(self) -> list[float]:
        """Each stream's bytes over its own process's wall time."""
        each = self.nbytes // len(self.usages)
        return [each / usage.wall for usage in self.usages]


@dataclass(frozen=True)
class ThrottleRun:
    """8 uploads against a store that refuses part uploads above ``per_second``, with one back-off mode."""

    backoff: str
    per_second: float
    nbytes: int
    wall: float
    completed: int
    streams: int
    refused: int
    attempts: int
    parts: int
    #: The agent's log lines saying the host window changed.
    window_changes: int

    @property
    def retries(self) -> int:
        return self.attempts - self.parts


@dataclass
class BandwidthResult:
    stream_size: int
    chunk: int
    limits: list[LimitBatch]
    throttles: list[ThrottleRun]


def _agent(bench: Bench, name: str, config: Path, **env: str) -> AgentHome:
    return AgentHome(bench.agents / name, bench.env(**bench.plugin.env, **env), str(BIN / "gpbackup_s3_plugin"), config)


def _commands(config: Path, verb: str) -> list[list[str]]:
    return [[str(BIN / "gpbackup_s3_plugin"), verb, str(config), gpbackup_path(n)] for n in range(SEGMENTS)]


def _sampled(
    home: AgentHome, direction: str, limit: int | None, nbytes: int,
    run: Callable[[], tuple[float, list[Usage]]],
) -> LimitBatch:  # fmt: skip
    """Run one batch through the warm agent of ``home``, sampling what the agent moves on the link."""
    (pid,) = home.pids()
    with IoSampler(pid, "wchar" if direction == "upload" else "rchar") as sampler:
        wall, usages = run()
    samples = sampler.samples
    start = samples[0].at
    busy_until = start + min(usage.wall for usage in usages)
    span = min(WINDOW_SECONDS, busy_until - start - sampler.every)  # a short batch: one window as long as it
    every = window_rates(samples, span, start, samples[-1].at)
    busy = window_rates(samples, span, start, busy_until)
    return LimitBatch(direction, limit, nbytes, wall, usages, span, busy, max(every))


def _limit_batches(bench: Bench, sources: list[Slice], name: str, up: int | None, down: int | None) -> list[LimitBatch]:
    extra = {"host_upload_limit": up, "host_download_limit": down}
    config = plugin_config(bench, bench.home / f"{name}.yaml", name, None, None, **extra)
    home = _agent(bench, name, config)
    nbytes = sum(source.length for source in sources)
    try:
        uploads, downloads = _commands(config, "backup_data"), _commands(config, "restore_data")
        with charged(home):
            upload = _sampled(home, "upload", up, nbytes, lambda: upload_processes(uploads, home.env, sources))
        progress(f"  {name} upload: {upload.wall:.2f} s")
        with charged(home):
            download = _sampled(
                home, "download", down, nbytes, lambda: download_processes(downloads, home.env, sources)
            )
        progress(f"  {name} download: {download.wall:.2f} s (verified)")
    finally:
        home.stop()
        delete_prefix(bench, bench.target.key(name + "/"))
    return [upload, download]


def _throttle_run(bench: Bench, sources: list[Slice], backoff: str, per_second: float) -> ThrottleRun:
    port = urlsplit(bench.target.endpoint).port or 80
    name = f"bw-{backoff[0]}"  # short: the agent binds a temporary socket path 9-16 bytes longer than its own
    nbytes = sum(source.length for source in sources)
    with FaultProxy(port) as proxy:
        config = plugin_config(bench, bench.home / f"{name}.yaml", name, None, None)
        text = config.read_text().replace(f"endpoint: {bench.target.endpoint}\n", f"endpoint: {proxy.endpoint}\n")
        config.write_text(text)
        env = {} if backoff == "host" else {BACKOFF_ENV: "per-stream"}
        home = _agent(bench, name, config, **env)
        try:
            with charged(home):
                rule = proxy.add(error(503, "SlowDown"), method="PUT", path=UPLOAD_PART, per_second=per_second)
                wall, endings = upload_endings(_commands(config, "backup_data"), home.env, sources)
            seen = [s for s in proxy.seen if s.method == "PUT" and re.search(UPLOAD_PART, s.target)]
            log = "".join(p.read_text(errors="replace") for p in (bench.home / "gpAdminLogs").glob("*.log"))
        finally:
            home.stop()
            delete_prefix(bench, bench.target.key(name + "/"))
    completed = sum(1 for ending in endings if not ending.problem and ending.code == 0)
    changes = len(re.findall(r"host requests in flight (?:lowered|raised)", log)) if backoff == "host" else 0
    progress(f"  {backoff} back-off: {wall:.2f} s, {rule.faulted} refused, {completed}/{len(endings)} completed")
    for ending in endings:
        if ending.problem or ending.code != 0:
            progress("    gave up: " + (ending.errors.strip().splitlines() or ["(no stderr)"])[-1])
    return ThrottleRun(backoff, per_second, nbytes, wall, completed, len(endings), rule.faulted, len(seen),
                       len({s.target for s in seen}), changes)  # fmt: skip


def _sources(data: Path, data_size: int, stream_size: int) -> list[Slice]:
    slots = [make_slice(data, n * stream_size, stream_size) for n in range(min(data_size // stream_size, SEGMENTS))]
    return [slots[n % len(slots)] for n in range(SEGMENTS)]


def run_bandwidth(bench: Bench, data: Path, stream_size: int = SEGMENT_SIZE) -> BandwidthResult:
    sources = _sources(data, bench.options.size, stream_size)
    progress(f"bandwidth: {SEGMENTS} x {human(stream_size)} through one agent, unlimited then at half")
    free = _limit_batches(bench, sources, "bw-f", None, None)
    halves = [int(b.nbytes / b.wall / 2) for b in free]
    limited = _limit_batches(bench, sources, "bw-l", halves[0], halves[1])
    throttles: list[ThrottleRun] = []
    if not bench.target.remote:
        parts = -(-stream_size // DEFAULT_CHUNKSIZE) * SEGMENTS
        per_second = max(2.0, round(parts / free[0].wall / 2))
        progress(f"throttling store: 503 SlowDown above {per_second:g} part uploads a second")
        throttles = [_throttle_run(bench, sources, backoff, per_second) for backoff in ("host", "per-stream")]
    return BandwidthResult(stream_size, DEFAULT_CHUNKSIZE, free + limited, throttles)
