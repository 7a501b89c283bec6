"""The plugin against a misbehaving network: transient faults, permanent faults, corruption,
signals and load, each injected by :class:`~tests.faults.proxy.FaultProxy`.

Every scenario asserts the exact outcome a gpbackup/gprestore operator relies on:
recoverable faults end in exit 0 and identical bytes; permanent ones end in a
non-zero exit within a bounded time, one line on stderr naming the object and
the cause, no multipart upload left behind and no partial file.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import AGENT_ONLY, BUCKET, RCLONE_ONLY, wait_for
from tests.faults.conftest import FAULT_OPTIONS, MIB, FaultRunner, random_bytes
from tests.faults.proxy import (
    Action,
    error,
    flip_byte,
    one_of,
    reset_request,
    reset_response,
    stall,
    truncate,
)

if TYPE_CHECKING:
    from pathlib import Path

#: rclone and RGW over HTTP; over TLS to RGW, the tests whose faults live in the transport (a reset,
#: a body cut short, a stall, a flipped byte, a signal mid-upload) run too (``OVER_TLS``).
pytestmark = pytest.mark.stores("rclone", "rgw")
OVER_TLS = pytest.mark.stores("rclone", "rgw", "rgw-tls")
# Retries, resumes and digest checks happen inside the S3 layer that both front doors share: those
# tests are marked AGENT_ONLY. What the in-process door owns itself (aborting uploads on failure and
# on signals, one stderr line, no partial file, a reader that closes early) runs both ways.

#: Subprocess timeout for a command that must fail: a hang is a failure, not a wait.
FAIL_WITHIN = 60.0
MAX_ATTEMPTS = FAULT_OPTIONS["max_attempts"]


def not_retried(runner: FaultRunner, why: str, *, since: int = 0) -> None:
    """Failing fast: the error answer was not retried (after the first ``since`` requests the proxy saw).

    Counted at the proxy rather than timed (a loaded machine makes any call slow).  A request may
    go twice when the first attempt's answer is late (``read_timeout`` is 2 s here, and botocore
    retries a timeout); an error botocore retried would go ``max_attempts`` times.
    """
    sent = Counter((seen.method, seen.target) for seen in runner.proxy.seen[since:])
    retried = {request: count for request, count in sent.items() if count >= MAX_ATTEMPTS}
    assert retried == {}, f"{why}; the plugin's log ends:\n{runner.log_text()[-4000:]}"


UPLOAD_PART = r"[?&]partNumber="
CREATE_MULTIPART = r"\?uploads"
COMPLETE_MULTIPART = r"\?uploadId="
LIST_OBJECTS = r"list-type=2"
DELETE_OBJECTS = r"\?delete"
DIGEST_OBJECT = r"\.gps3async-crc32c?$"  # the companion object holding a multipart object's digest
RETRY_LOGGED = re.compile(r"attempt \d+ (failed|broke off)")

BACKUP_SIZE = 17 * MIB  # four 5 MiB parts
RESTORE_SIZE = 7 * MIB  # a two-part object, seven 1 MiB ranged GETs on restore


# --------------------------------------------------------------------------- helpers


def one_stderr_line(result: subprocess.CompletedProcess[bytes] | bytes, *needles: str) -> str:
    """Assert stderr is exactly one plugin line that contains every needle; return it."""
    raw = result if isinstance(result, bytes) else result.stderr
    lines = raw.decode(errors="replace").splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}: {lines!r}"
    line = lines[0]
    assert line.startswith("gpbackup_s3_plugin: "), line
    for needle in needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in stderr line {line!r}"
    return line


def ok(result: subprocess.CompletedProcess[bytes]) -> None:
    assert result.returncode == 0 and result.stderr == b"", (result.returncode, result.stderr.decode())


def backup(runner: FaultRunner, name: str, data: bytes, **kwargs: Any) -> tuple[Path, str]:
    path = runner.data_path(name)
    result = runner.run("backup_data", str(path), stdin=data, **kwargs)
    ok(result)
    return path, runner.key(path)


def restored(runner: FaultRunner, path: Path) -> bytes:
    result = runner.run("restore_data", str(path))
    ok(result)
    return result.stdout


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def timed_run(
    runner: FaultRunner, *args: str, stdin: bytes | None = None, config: Path | None = None
) -> tuple[subprocess.CompletedProcess[bytes], float]:
    started = time.monotonic()
    result = runner.run(*args, stdin=stdin, timeout=FAIL_WITHIN, config=config)
    return result, time.monotonic() - started


# --------------------------------------------------------------------------- transient: backup


@OVER_TLS
@AGENT_ONLY
@pytest.mark.parametrize(
    ("method", "path", "action", "times"),
    [
        pytest.param("PUT", UPLOAD_PART, error(500, "InternalError"), 2, id="upload_part-500-x2"),
        pytest.param("PUT", UPLOAD_PART, error(503, "SlowDown"), 2, id="upload_part-503-slowdown-x2"),
        pytest.param("PUT", UPLOAD_PART, error(400, "RequestTimeout"), 1, id="upload_part-400-requesttimeout-x1"),
        pytest.param("PUT", UPLOAD_PART, reset_request(1_000_000), 2, id="upload_part-reset-mid-body-x2"),
        pytest.param("POST", CREATE_MULTIPART, error(500, "InternalError"), 2, id="create_multipart-500-x2"),
        pytest.param("POST", COMPLETE_MULTIPART, error(503, "SlowDown"), 2, id="complete_multipart-503-x2"),
        pytest.param("PUT", DIGEST_OBJECT, error(500, "InternalError"), 2, id="put_digest_object-500-x2"),
    ],
)
def test_backup_data_multipart_recovers(
    runner: FaultRunner, s3: Any, method: str, path: str, action: Action, times: int
) -> None:
    data = random_bytes(BACKUP_SIZE, 1)
    rule = runner.proxy.add(action, method=method, path=path, times=times)
    local, _ = backup(runner, "gpbackup_0_20261126101500_17.gz", data)
    assert rule.faulted == times
    assert runner.uploads(s3) == []
    assert RETRY_LOGGED.search(runner.log_text()), "retries should show in the plugin log"
    runner.proxy.clear()
    assert restored(runner, local) == data


@AGENT_ONLY
def test_backup_data_put_object_recovers(runner: FaultRunner, s3: Any) -> None:
    data = random_bytes(100_000, 2)
    rule = runner.proxy.add(error(500, "InternalError"), method="PUT", path=r"^/[^?]*$", times=2)
    local, key = backup(runner, "gpbackup_0_20261126101500_18.gz", data)
    assert rule.faulted == 2
    assert RETRY_LOGGED.search(runner.log_text())
    assert runner.proxy.count("PUT", UPLOAD_PART) == 0, "100 KB must be one PutObject"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    assert restored(runner, local) == data


# --------------------------------------------------------------------------- transient: restore


@OVER_TLS
@AGENT_ONLY
@pytest.mark.parametrize(
    ("action", "times", "resumed"),
    [
        pytest.param(error(500, "InternalError"), 2, False, id="get-500-x2"),
        pytest.param(error(503, "SlowDown"), 2, False, id="get-503-x2"),
        pytest.param(reset_response(300_000), 2, True, id="get-reset-mid-body-x2"),
        pytest.param(truncate(300_000), 2, True, id="get-truncated-body-x2"),
        pytest.param(stall(6), 1, False, id="get-stall-before-headers-x1"),
        pytest.param(stall(6, after_bytes=300_000), 1, True, id="get-stall-mid-body-x1"),
    ],
)
def test_restore_data_recovers(runner: FaultRunner, action: Action, times: int, resumed: bool) -> None:
    data = random_bytes(RESTORE_SIZE, 3)
    local, _ = backup(runner, "gpbackup_0_20261126101500_19.gz", data)
    rule = runner.proxy.add(action, method="GET", header="Range", times=times)
    assert restored(runner, local) == data
    assert rule.faulted == times
    assert RETRY_LOGGED.search(runner.log_text()), "retries should show in the plugin log"
    if resumed:
        assert "resuming at byte" in runner.log_text()


@OVER_TLS
@AGENT_ONLY
def test_restore_data_resume_keeps_progress(runner: FaultRunner) -> None:
    """Every ranged GET breaks off after 300000 bytes: a resumed GET must start where the last one stopped,
    so each 1 MiB range completes on its 4th request (within the 6 allowed) instead of never."""
    data = random_bytes(3 * MIB, 18)
    local, _ = backup(runner, "gpbackup_0_20261126101500_22.gz", data)
    rule = runner.proxy.add(reset_response(300_000), method="GET", header="Range")
    assert restored(runner, local) == data
    assert rule.faulted >= 9, "three 1 MiB ranges, each broken off at least three times"
    resumed = re.findall(r"resuming at byte (\d+)", runner.log_text())
    assert any(int(offset) % MIB for offset in resumed), "resumes must not restart at a range boundary"


@AGENT_ONLY
def test_restore_data_digest_object_500_recovers(runner: FaultRunner) -> None:
    data = random_bytes(RESTORE_SIZE, 17)
    local, _ = backup(runner, "gpbackup_0_20261126101500_21.gz", data)
    rule = runner.proxy.add(error(500, "InternalError"), method="GET", path=DIGEST_OBJECT, times=2)
    assert restored(runner, local) == data
    assert rule.faulted == 2


# --------------------------------------------------------------------------- transient: files and delete


@AGENT_ONLY
def test_backup_file_recovers(runner: FaultRunner, s3: Any) -> None:
    data = random_bytes(12 * MIB, 4)
    path = runner.data_path("gpbackup_20261126101500_report")
    path.write_bytes(data)
    rule = runner.proxy.add(error(503, "SlowDown"), method="PUT", path=UPLOAD_PART, times=2)
    ok(runner.run("backup_file", str(path)))
    assert rule.faulted == 2
    assert path.read_bytes() == data, "backup_file must leave the local file alone"
    assert s3.get_object(Bucket=BUCKET, Key=runner.key(path))["Body"].read() == data
    assert runner.uploads(s3) == []


@AGENT_ONLY
def test_restore_file_recovers(runner: FaultRunner, tmp_path: Path) -> None:
    data = random_bytes(RESTORE_SIZE, 5)
    source = runner.data_path("gpbackup_20261126101500_toc.yaml")
    source.write_bytes(data)
    ok(runner.run("backup_file", str(source)))
    target = tmp_path / "seg1" / "backups" / "20261126" / "20261126101500" / source.name
    rule = runner.proxy.add(reset_response(300_000), method="GET", header="Range", times=2)
    ok(runner.run("restore_file", str(target)))
    assert rule.faulted == 2
    assert target.read_bytes() == data
    assert leftovers(target.parent) == [target.name]
    assert "resuming at byte" in runner.log_text()


@AGENT_ONLY
def test_delete_backup_recovers(runner: FaultRunner, s3: Any) -> None:
    for number in range(3):
        backup(runner, f"gpbackup_{number}_20261126101500_20.gz", random_bytes(10_000, number))
    keep_path = runner.data_path("gpbackup_0_20261126111500_20.gz", timestamp="20261126111500")
    ok(runner.run("backup_data", str(keep_path), stdin=b"other backup"))
    listed = runner.proxy.add(error(503, "SlowDown"), method="GET", path=LIST_OBJECTS, times=2)
    deleted = runner.proxy.add(error(503, "SlowDown"), method="POST", path=DELETE_OBJECTS, times=2)
    ok(runner.run("delete_backup", "20261126101500"))
    assert (listed.faulted, deleted.faulted) == (2, 2)
    gone = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{runner.folder}/backups/20261126/20261126101500/")
    assert gone.get("KeyCount", 0) == 0
    kept = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{runner.folder}/backups/20261126/20261126111500/")
    assert kept["KeyCount"] == 1


# --------------------------------------------------------------------------- permanent


@RCLONE_ONLY
def test_upload_part_500_always_fails_and_aborts(runner: FaultRunner, s3: Any) -> None:
    path = runner.data_path("gpbackup_0_20261126101500_30.gz")
    rule = runner.proxy.add(error(500, "InternalError"), method="PUT", path=UPLOAD_PART)
    result, _ = timed_run(runner, "backup_data", str(path), stdin=random_bytes(BACKUP_SIZE, 6))
    assert result.returncode != 0
    one_stderr_line(result, runner.key(path), "InternalError")
    assert rule.faulted >= 5, "the plugin should retry before giving up"
    assert runner.proxy.count("DELETE", COMPLETE_MULTIPART) >= 1, "the upload must be aborted"
    assert runner.uploads(s3) == []


def test_upload_part_403_aborts(runner: FaultRunner, s3: Any) -> None:
    path = runner.data_path("gpbackup_0_20261126101500_31.gz")
    rule = runner.proxy.add(error(403, "AccessDenied"), method="PUT", path=UPLOAD_PART)
    result, _ = timed_run(runner, "backup_data", str(path), stdin=random_bytes(BACKUP_SIZE, 7))
    assert result.returncode != 0
    one_stderr_line(result, runner.key(path), "access denied")
    assert rule.faulted >= 1
    assert runner.uploads(s3) == []


@AGENT_ONLY
@pytest.mark.parametrize("verb", ["backup_data", "restore_data"])
def test_access_denied_everywhere(runner: FaultRunner, s3: Any, verb: str) -> None:
    data = random_bytes(BACKUP_SIZE, 8)
    if verb == "restore_data":
        path, _ = backup(runner, "gpbackup_0_20261126101500_32.gz", data)
    else:
        path = runner.data_path("gpbackup_0_20261126101500_32.gz")
    runner.proxy.add(error(403, "AccessDenied"))
    before = len(runner.proxy.seen)
    result, _ = timed_run(runner, verb, str(path), stdin=data if verb == "backup_data" else None)
    assert result.returncode != 0
    assert result.stdout == b""
    one_stderr_line(result, runner.key(path), "access denied")
    not_retried(runner, "403 is not retryable", since=before)
    assert runner.uploads(s3) == []


def test_restore_missing_key_fails_fast(runner: FaultRunner) -> None:
    path = runner.data_path("gpbackup_0_20261126101500_33.gz")
    result, _ = timed_run(runner, "restore_data", str(path))
    assert result.returncode != 0
    assert result.stdout == b""
    one_stderr_line(result, runner.key(path), "not found")
    not_retried(runner, "a missing key is not retried")


def test_restore_file_missing_key_leaves_nothing(runner: FaultRunner) -> None:
    path = runner.data_path("gpbackup_20261126101500_config.yaml")
    result, _ = timed_run(runner, "restore_file", str(path))
    assert result.returncode != 0
    one_stderr_line(result, runner.key(path), "not found")
    not_retried(runner, "a missing key is not retried")
    assert leftovers(path.parent) == []


@pytest.mark.parametrize("verb", ["backup_data", "restore_data"])
def test_wrong_bucket(runner: FaultRunner, verb: str) -> None:
    bucket = "gps3async-no-such-bucket"
    config = runner.make_config("wrong_bucket.yaml", bucket=bucket)
    path = runner.data_path("gpbackup_0_20261126101500_34.gz")
    stdin = random_bytes(100_000, 9) if verb == "backup_data" else None
    result = runner.run(verb, str(path), stdin=stdin, config=config, timeout=FAIL_WITHIN)
    assert result.returncode != 0
    one_stderr_line(result, bucket, "bucket does not exist")
    not_retried(runner, "a missing bucket is not retried")


@RCLONE_ONLY
@pytest.mark.parametrize("verb", ["backup_data", "restore_data"])
def test_connection_refused(runner: FaultRunner, verb: str) -> None:
    path = runner.data_path("gpbackup_0_20261126101500_35.gz")
    runner.proxy.stop_listening()
    stdin = random_bytes(100_000, 10) if verb == "backup_data" else None
    # What is checked is the one line, not the retries (the recovery tests count those): two
    # attempts spare the suite botocore's back-off between five (about 8 s per operation).
    config = runner.make_config("refused.yaml", max_attempts=2)
    result, seconds = timed_run(runner, verb, str(path), stdin=stdin, config=config)
    assert result.returncode != 0
    one_stderr_line(result, runner.key(path), "connect")
    assert seconds < FAIL_WITHIN
    assert runner.proxy.seen == []


@AGENT_ONLY
@RCLONE_ONLY
def test_get_stalls_always(runner: FaultRunner) -> None:
    data = random_bytes(RESTORE_SIZE, 11)
    local, key = backup(runner, "gpbackup_0_20261126101500_36.gz", data)
    rule = runner.proxy.add(stall(30), method="GET", header="Range")
    result, seconds = timed_run(runner, "restore_data", str(local))
    assert result.returncode != 0
    one_stderr_line(result, key, "timeout")
    assert rule.faulted >= 5
    assert seconds < 45


@RCLONE_ONLY
@pytest.mark.parametrize(
    "action",
    [
        pytest.param(error(500, "InternalError"), id="get-500-always"),
        pytest.param(reset_response(0), id="get-reset-after-headers-always"),
    ],
)
def test_restore_file_permanent_failure_leaves_nothing(runner: FaultRunner, tmp_path: Path, action: Action) -> None:
    source = runner.data_path("gpbackup_20261126101500_metadata.sql")
    source.write_bytes(random_bytes(3 * MIB, 12))
    ok(runner.run("backup_file", str(source)))
    target_dir = tmp_path / "seg2" / "backups" / "20261126" / "20261126101500"
    target_dir.mkdir(parents=True)
    target = target_dir / source.name
    rule = runner.proxy.add(action, method="GET", header="Range")
    result, _ = timed_run(runner, "restore_file", str(target))
    assert result.returncode != 0
    one_stderr_line(result, runner.key(source))
    assert rule.faulted >= 5
    assert leftovers(target_dir) == [], "no file and no .part temp file may be left"


# --------------------------------------------------------------------------- integrity


def range_starts_at(offset: int) -> Any:
    return lambda request: (request.header("Range") or "").startswith(f"bytes={offset}-")


@OVER_TLS
@AGENT_ONLY
@pytest.mark.parametrize("range_start", [0, 4 * MIB], ids=["first-range", "fifth-range"])
def test_flipped_byte_fails_restore_data(runner: FaultRunner, range_start: int) -> None:
    data = random_bytes(RESTORE_SIZE, 13)
    local, key = backup(runner, "gpbackup_0_20261126101500_40.gz", data)
    rule = runner.proxy.add(flip_byte(123_457), method="GET", path=range_starts_at(range_start), times=1)
    result, _ = timed_run(runner, "restore_data", str(local))
    assert rule.faulted == 1
    assert result.returncode != 0, "a corrupted body was restored without complaint"
    one_stderr_line(result, key)


def test_flipped_byte_fails_restore_file(runner: FaultRunner, tmp_path: Path) -> None:
    source = runner.data_path("gpbackup_20261126101500_toc.yaml")
    source.write_bytes(random_bytes(100_000, 14))
    ok(runner.run("backup_file", str(source)))
    target_dir = tmp_path / "seg3" / "backups" / "20261126" / "20261126101500"
    target_dir.mkdir(parents=True)
    target = target_dir / source.name
    rule = runner.proxy.add(flip_byte(4_321), method="GET", header="Range", times=1)
    result, _ = timed_run(runner, "restore_file", str(target))
    assert rule.faulted == 1
    assert result.returncode != 0, "a corrupted body was restored without complaint"
    one_stderr_line(result, runner.key(source))
    assert leftovers(target_dir) == []


# --------------------------------------------------------------------------- signals


@OVER_TLS
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_aborts_multipart_backup(runner: FaultRunner, s3: Any, signum: signal.Signals) -> None:
    path = runner.data_path("gpbackup_0_20261126101500_50.gz")
    process = runner.popen("backup_data", str(path), stdin=subprocess.PIPE)
    assert process.stdin is not None
    try:
        process.stdin.write(random_bytes(12 * MIB, 15))
        process.stdin.flush()
        wait_for(lambda: runner.uploads(s3) != [], 20, "the multipart upload to start")
        process.send_signal(signum)
        started = time.monotonic()
        _, stderr = process.communicate(timeout=10)  # also closes stdin, after the signal
        assert time.monotonic() - started < 10
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    one_stderr_line(stderr, f"interrupted by {signum.name}")
    assert runner.uploads(s3) == []
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix=runner.key(path)).get("KeyCount", 0) == 0


def test_restore_data_reader_closes_early(runner: FaultRunner) -> None:
    local, _ = backup(runner, "gpbackup_0_20261126101500_51.gz", random_bytes(RESTORE_SIZE, 16))
    process = runner.popen("restore_data", str(local))
    assert process.stdout is not None and process.stderr is not None
    try:
        got = process.stdout.read(MIB)
        assert len(got) == MIB
        process.stdout.close()
        started = time.monotonic()
        process.wait(10)
        assert time.monotonic() - started < 10
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert stderr == b""
    assert process.returncode == 141


# --------------------------------------------------------------------------- load


@AGENT_ONLY
@RCLONE_ONLY
@pytest.mark.slow
def test_load_with_random_faults(runner: FaultRunner, s3: Any) -> None:
    rng = random.Random(2026)
    sizes = [rng.randint(4 * MIB, 12 * MIB) for _ in range(16)]
    payloads = [random_bytes(size, 100 + n) for n, size in enumerate(sizes)]
    paths = [runner.data_path(f"gpbackup_{n}_20261126101500_60.gz") for n in range(16)]
    request_faults = runner.proxy.add(
        one_of(error(500, "InternalError"), error(503, "SlowDown"), reset_request(100_000)),
        probability=0.06,
        seed=1,
    )
    body_faults = runner.proxy.add(
        one_of(truncate(200_000), reset_response(300_000)), method="GET", header="Range", probability=0.05, seed=2
    )
    lock = threading.Lock()
    timings: list[float] = []

    def run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        started = time.monotonic()
        result = runner.run(*args, stdin=stdin, timeout=110)
        with lock:
            timings.append(time.monotonic() - started)
        return result

    with ThreadPoolExecutor(16) as pool:
        backups = list(pool.map(lambda n: run("backup_data", str(paths[n]), stdin=payloads[n]), range(16)))
    for result in backups:
        ok(result)
    assert runner.uploads(s3) == []
    with ThreadPoolExecutor(16) as pool:
        restores = list(pool.map(lambda n: run("restore_data", str(paths[n])), range(16)))
    for n, result in enumerate(restores):
        ok(result)
        assert result.stdout == payloads[n], f"object {n} differs after restore"
    assert request_faults.faulted > 0 and body_faults.faulted > 0
    assert runner.uploads(s3) == []
