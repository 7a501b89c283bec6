"""A network that keeps breaking connections after a few bytes (issue 26), through :class:`ConnectionCut`.

A load balancer, a NAT with a byte limit or a flaky WAN link closes long
connections: a restore resumes each broken body for as long as the attempts
bring new bytes, and an upload sends a cut part again; a network that can
never carry a whole part fails the backup cleanly, with nothing left.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import AGENT_ONLY, RCLONE_ONLY
from tests.faults.conftest import FAULT_OPTIONS, MIB, FaultRunner, random_bytes
from tests.faults.proxy import ConnectionCut, reset_response, stall, truncate
from tests.faults.test_faults import (
    DIGEST_OBJECT,
    FAIL_WITHIN,
    MAX_ATTEMPTS,
    UPLOAD_PART,
    backup,
    leftovers,
    ok,
    one_stderr_line,
    restored,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.stores("rclone", "rgw")

SUMMARY_BREAKS = re.compile(r"survived (\d+) broken bodies")
RANGE_DONE = re.compile(r"bytes (\d+)-(\d+) complete after (\d+) resumes")


def summary_breaks(log: str, verb: str) -> list[int]:
    """How many broken bodies each ``verb`` summary line of the log says the call survived (0: not said)."""
    found = []
    for line in log.splitlines():
        if f"-[INFO]:-{verb} s3://" in line and " bytes in " in line:
            match = SUMMARY_BREAKS.search(line)
            found.append(int(match.group(1)) if match else 0)
    return found


@AGENT_ONLY
def test_restores_survive_every_connection_cut_after_150_kb(runner: FaultRunner, tmp_path: Path) -> None:
    """Every connection is closed after 150 kB of responses: each 1 MiB range breaks about seven times
    (more than the five resumes that used to be allowed), and every restore verb still completes."""
    data = random_bytes(5 * MIB + 123_457, 41)  # two parts: a companion digest document is read too
    local, _ = backup(runner, "gpbackup_0_20261126101500_41", data)
    source = runner.data_path("gpbackup_20261126101500_toc.yaml")
    source.write_bytes(data[: 2 * MIB])
    ok(runner.run("backup_file", str(source)))
    offsets = tmp_path / "offsets"
    offsets.write_text(f"2 {MIB - 10} {3 * MIB + 5} {4 * MIB} {5 * MIB + 100_000}")
    target = tmp_path / "seg1" / "backups" / "20261126" / "20261126101500" / source.name

    runner.proxy.cut_connections(ConnectionCut(response_bytes=150_000))
    assert restored(runner, local) == data
    subset = runner.run("restore_data_subset", str(local), str(offsets))
    ok(subset)
    assert subset.stdout == data[MIB - 10 : 3 * MIB + 5] + data[4 * MIB : 5 * MIB + 100_000]
    ok(runner.run("restore_file", str(target)))
    assert target.read_bytes() == data[: 2 * MIB]
    assert leftovers(target.parent) == [target.name]

    assert runner.proxy.cuts >= 3 * 7, "the proxy must really have cut the connections"
    log = runner.log_text()
    resumes = [int(match.group(3)) for match in RANGE_DONE.finditer(log)]
    assert max(resumes) >= 6, f"a 1 MiB range should break off more than five times: {resumes}"
    assert "given up" not in log
    for verb in ("restore_data", "restore_data_subset", "restore_file"):
        (survived,) = summary_breaks(log, verb)
        assert survived >= 5, f"{verb}'s summary line should count the breaks it survived: {survived}"


@AGENT_ONLY
def test_a_companion_document_cut_short_is_resumed(runner: FaultRunner) -> None:
    data = random_bytes(7 * MIB, 42)
    local, _ = backup(runner, "gpbackup_0_20261126101500_42", data)
    rule = runner.proxy.add(truncate(20), method="GET", path=DIGEST_OBJECT, times=3)
    assert restored(runner, local) == data
    assert rule.faulted == 3
    log = runner.log_text()
    assert re.search(r"\.gps3async-crc32c: attempt 1 broke off after 20 bytes .*; resuming at byte 20", log), log
    assert re.search(r"\.gps3async-crc32c: attempt 3 broke off after 20 bytes .*; resuming at byte 60", log), log
    assert re.search(r"\.gps3async-crc32c: bytes 0-\d+ complete after 3 resumes", log)
    assert summary_breaks(log, "restore_data") == [3]


@AGENT_ONLY
def test_backup_data_survives_every_third_connection_cut_after_1_mb_of_request(runner: FaultRunner, s3: Any) -> None:
    data = random_bytes(17 * MIB, 43)  # four 5 MiB parts
    # One request per connection (the proxy closes each after its answer), so every third request is cut.
    runner.proxy.cut_connections(ConnectionCut(request_bytes=MIB, every=3, keep_alive=False))
    local, _ = backup(runner, "gpbackup_0_20261126101500_43", data)
    assert runner.proxy.cuts >= 1, "at least one part must have been cut and sent again"
    assert runner.proxy.count("PUT", UPLOAD_PART) > 4, "a cut part is sent again"
    assert runner.uploads(s3) == []
    runner.proxy.cut_connections(None)
    assert restored(runner, local) == data


@AGENT_ONLY
@RCLONE_ONLY
def test_a_restore_whose_attempts_bring_nothing_gives_up_after_max_attempts(runner: FaultRunner) -> None:
    data = random_bytes(3 * MIB, 45)
    local, key = backup(runner, "gpbackup_0_20261126101500_45", data)
    rule = runner.proxy.add(reset_response(0), method="GET", header="Range")
    result = runner.run("restore_data", str(local), timeout=FAIL_WITHIN)
    assert result.returncode != 0
    one_stderr_line(result, key, f"given up: {MAX_ATTEMPTS} attempts in a row brought no new byte")
    assert rule.faulted == MAX_ATTEMPTS, "the first range alone, each attempt broken after its headers"


@AGENT_ONLY
@RCLONE_ONLY
def test_a_trickle_that_never_finishes_ends_at_the_range_deadline(runner: FaultRunner) -> None:
    """Each attempt brings 1000 bytes, then stalls until read_timeout (2 s) ends it: always progress, never
    done.  The 1 MiB range's deadline, 2 x (5 + 1 + 1) = 14 s, ends it after a bounded number of GETs."""
    data = random_bytes(MIB, 46)
    local, key = backup(runner, "gpbackup_0_20261126101500_46", data)
    rule = runner.proxy.add(stall(1.0, after_bytes=1000), method="GET", header="Range")
    result = runner.run("restore_data", str(local), timeout=FAIL_WITHIN)
    assert result.returncode != 0
    deadline = FAULT_OPTIONS["read_timeout"] * (MAX_ATTEMPTS + 1 + 1)  # type: ignore[operator]
    line = one_stderr_line(result, key, "given up: still incomplete", f"may take {deadline} s")
    assert "brought no new byte" not in line
    assert 5 <= rule.faulted <= 16, "about one GET a second until the deadline"
    got = re.search(r"\((\d+) of 1048576 bytes received, the body broke off (\d+) times\)", line)
    assert got is not None, line
    assert int(got.group(1)) == 1000 * int(got.group(2)) == 1000 * rule.faulted, "each attempt brought 1000 bytes"


@RCLONE_ONLY
def test_backup_data_fails_cleanly_when_no_part_can_ever_arrive(runner: FaultRunner, s3: Any) -> None:
    """Every connection is closed after 3 MB of request: no 5 MiB part can ever arrive.  The backup fails
    with one stderr line, the multipart upload is aborted, and no part was sent more than max_attempts
    times (failing fast is counted at the proxy, not timed)."""
    path = runner.data_path("gpbackup_0_20261126101500_44")
    runner.proxy.cut_connections(ConnectionCut(request_bytes=3 * 10**6))
    result = runner.run("backup_data", str(path), stdin=random_bytes(17 * MIB, 44), timeout=FAIL_WITHIN)
    assert result.returncode != 0
    one_stderr_line(result, runner.key(path))
    runner.proxy.cut_connections(None)
    assert runner.uploads(s3) == []
    parts = [seen.target for seen in runner.proxy.seen if seen.method == "PUT" and re.search(UPLOAD_PART, seen.target)]
    sends = Counter(re.sub(r".*partNumber=(\d+).*", r"\1", target) for target in parts)
    # botocore's standard mode makes max_attempts + 1 attempts; the HTTP layer sends a request again once
    # when the kept-alive connection it reused was closed before any answer (the one CreateMultipart used).
    assert sends and max(sends.values()) <= MAX_ATTEMPTS + 2, sends
