"""Host bandwidth limits and the host's shared back-off (issue 18), through the real server.

Every timing assertion is a lower bound that follows from the limiter's own
invariant: it never admits more than ``rate x t + burst + one part``, so moving
``total`` bytes takes at least ``(total - burst - part) / rate`` seconds.  A
loaded machine only makes a run slower, so these cannot flake; a limit that
were per stream instead of per host, or not applied at all, fails them.
"""

from __future__ import annotations

import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from gps3async.runtime.hostgates import BURST_SECONDS
from tests.faults.conftest import MIB, FaultRunner, random_bytes
from tests.faults.proxy import error
from tests.faults.test_faults import UPLOAD_PART, ok, one_stderr_line

if TYPE_CHECKING:
    from pathlib import Path

RATE = 8 * MIB  # host_upload_limit / host_download_limit: 8MB
STREAM_SIZE = 12 * MIB  # three 5 MiB parts (two full, one short) per stream
STREAMS = 3
SUMMARY_WAITS = re.compile(r"waited (\d+\.\d+) s for the bandwidth budget, (\d+\.\d+) s for back-off")


def least_seconds(total: int, part: int) -> float:
    return (total - RATE * BURST_SECONDS - part) / RATE


def concurrently(runner: FaultRunner, jobs: list[tuple[str, Path, bytes | None]], config: Path) -> list[tuple[
        subprocess.CompletedProcess[bytes], float]]:  # fmt: skip
    def one(job: tuple[str, Path, bytes | None]) -> tuple[subprocess.CompletedProcess[bytes], float]:
        verb, path, data = job
        started = time.monotonic()
        result = runner.run(verb, str(path), stdin=data, config=config, timeout=120)
        return result, time.monotonic() - started

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_upload_limit_is_one_budget_per_agent_and_per_stream_in_process(runner: FaultRunner) -> None:
    config = runner.make_config("limited.yaml", host_upload_limit="8MB")
    datas = [random_bytes(STREAM_SIZE, 40 + i) for i in range(STREAMS)]
    paths = [runner.data_path(f"gpbackup_{i}_20261126101500_40.gz") for i in range(STREAMS)]
    started = time.monotonic()
    results = concurrently(runner, [("backup_data", p, d) for p, d in zip(paths, datas)], config)
    elapsed = time.monotonic() - started
    for result, _ in results:
        ok(result)
    log = runner.log_text()
    assert len(SUMMARY_WAITS.findall(log)) >= STREAMS, "each transfer's summary says how long it waited"
    if runner.mode == "agent":
        # one budget for all: the three streams together take at least the host's time for all their bytes
        assert elapsed >= least_seconds(STREAMS * STREAM_SIZE, 5 * MIB)
        assert "host_upload_limit 8.4 MB/s" in log and "shared by every stream it serves" in log
    else:
        # each process takes the whole limit for itself, and says so
        assert all(seconds >= least_seconds(STREAM_SIZE, 5 * MIB) for _, seconds in results)
        assert log.count("host_upload_limit of 8388608 bytes/s applies to this stream alone") >= STREAMS
    for path, data in zip(paths, datas):
        restored = runner.run("restore_data", str(path))
        ok(restored)
        assert restored.stdout == data


def test_download_limit_is_shared_by_the_agents_streams(runner: FaultRunner) -> None:
    datas = [random_bytes(STREAM_SIZE, 50 + i) for i in range(STREAMS)]
    paths = [runner.data_path(f"gpbackup_{i}_20261126101500_50.gz") for i in range(STREAMS)]
    for path, data in zip(paths, datas):
        ok(runner.run("backup_data", str(path), stdin=data))
    config = runner.make_config("limited.yaml", host_download_limit="8MB")
    started = time.monotonic()
    results = concurrently(runner, [("restore_data", p, None) for p in paths], config)
    elapsed = time.monotonic() - started
    for (result, seconds), data in zip(results, datas):
        ok(result)
        assert result.stdout == data
        assert seconds >= least_seconds(STREAM_SIZE, MIB)  # in-process: per stream; agent: implied by the next
    if runner.mode == "agent":
        assert elapsed >= least_seconds(STREAMS * STREAM_SIZE, MIB)


def test_upload_limit_holds_through_failed_attempts(runner: FaultRunner) -> None:
    """Retried parts (500s, resets) neither lift the limit nor break the bytes."""
    rule = runner.proxy.add(error(500, "InternalError"), method="PUT", path=UPLOAD_PART, times=2)
    config = runner.make_config("limited.yaml", host_upload_limit="8MB")
    data = random_bytes(STREAM_SIZE, 60)
    path = runner.data_path("gpbackup_0_20261126101500_60.gz")
    started = time.monotonic()
    ok(runner.run("backup_data", str(path), stdin=data, config=config))
    assert time.monotonic() - started >= least_seconds(STREAM_SIZE, 5 * MIB)
    assert rule.faulted == 2
    runner.proxy.clear()
    restored = runner.run("restore_data", str(path))
    ok(restored)
    assert restored.stdout == data


@pytest.mark.parametrize(("option", "value"), [("host_upload_limit", "fast"), ("host_download_limit", "0")])
def test_a_bad_limit_gets_one_line_naming_the_option(runner: FaultRunner, option: str, value: str) -> None:
    config = runner.make_config("bad.yaml", **{option: value})
    path = runner.data_path("gpbackup_0_20261126101500_61.gz")
    result = runner.run("backup_data", str(path), stdin=b"x", config=config)
    assert result.returncode != 0
    one_stderr_line(result, option, repr(value))
    assert runner.proxy.count() == 0


@pytest.mark.agent_only  # one back-off per host needs the agent: in-process each call is its own host
def test_a_throttling_store_is_met_by_one_back_off_for_the_host(runner: FaultRunner) -> None:
    """A store that answers 503 SlowDown above 4 part uploads a second: the window shrinks once, every stream ends."""
    rule = runner.proxy.add(error(503, "SlowDown"), method="PUT", path=UPLOAD_PART, per_second=4)
    config = runner.make_config("throttled.yaml", max_attempts=10)
    datas = [random_bytes(4 * 5 * MIB, 70 + i) for i in range(4)]
    paths = [runner.data_path(f"gpbackup_{i}_20261126101500_70.gz") for i in range(4)]
    results = concurrently(runner, [("backup_data", p, d) for p, d in zip(paths, datas)], config)
    for result, _ in results:
        ok(result)
    log = runner.log_text()
    lowered = re.findall(r"host requests in flight lowered from \S+ to (\d+) for every stream", log)
    raised = re.findall(r"host requests in flight raised from \S+ to \S+ for every stream", log)
    assert rule.faulted > 0
    assert 1 <= len(lowered) < rule.faulted, "one line per change, not one per refused request"
    assert raised, "the window grows again as answers succeed"
    runner.proxy.clear()
    for path, data in zip(paths, datas):
        restored = runner.run("restore_data", str(path))
        ok(restored)
        assert restored.stdout == data
