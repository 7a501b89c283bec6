"""Every byte verified on arrival: ``auto`` store modes and a bit flipped in an upload (issue 15, goal 1).

Through the fault proxy in front of the suite's server (:mod:`tests.faults.proxy`,
``FlipUpload`` flips one bit of a request body on its way upstream):

* with ``payload_signing``/``upload_checksum: auto`` (the defaults) the plugin
  probes what the store verifies and uploads in a mode it verifies, so a
  flipped PutObject or UploadPart is refused, sent again, and the object stored
  is the one sent; a flip on every attempt fails the call with one stderr line
  naming the object and the part, and leaves no multipart upload open;
* a store that answers 200 to every wrong digest and echoes the digest headers
  (``IgnoreDigests``) is not taken for one that verifies;
* the probes' scratch objects are gone afterwards, and the probes run once per
  agent (once per call in-process), counted at the proxy.

The last test needs a real Ceph RGW (fixture ``rgw_server``) and is skipped
without it.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.test_check import lines_by_label
from tests.conftest import AGENT_ONLY, BUCKET
from tests.faults.conftest import MIB, random_bytes
from tests.faults.proxy import FaultProxy, FlipUpload, IgnoreDigests, Request, delay
from tests.faults.test_faults import UPLOAD_PART, ok, one_stderr_line

if TYPE_CHECKING:
    from pathlib import Path

    from tests.faults.conftest import FaultRunner

TIMESTAMP = "20261203101500"
AUTO = {"payload_signing": "auto", "upload_checksum": "auto"}
PROBE = "gps3async-probe-"
#: What the suite's rclone server verifies (measured: tests/faults/test_verified_uploads.py, the probe lines).
RCLONE_CHOICE = "chose unsigned/md5, the cheapest mode the store verifies"


def writes_of(name: str, *, part: int | None = None) -> Any:
    """A rule path: PutObject of the data object ``name`` (``part`` None) or its UploadPart ``part``."""

    def matches(request: Request) -> bool:
        if request.method != "PUT" or PROBE in request.target:
            return False
        path, _, query = request.target.partition("?")
        if not path.endswith("/" + name):
            return False
        return f"partNumber={part}&" in query + "&" if part is not None else "partNumber=" not in query

    return matches


def stored(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def listed(s3: Any, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def auto_config(runner: FaultRunner, name: str = "auto.yaml", **options: object) -> Path:
    return runner.make_config(name, **{**AUTO, **options})


def test_a_flipped_put_object_is_refused_sent_again_and_stored_intact(runner: FaultRunner, s3: Any) -> None:
    config = auto_config(runner)
    name = f"gpbackup_0_{TIMESTAMP}_1"
    flip = runner.proxy.add(FlipUpload(1000), path=writes_of(name), times=1)
    data = random_bytes(3000, 1)
    path = runner.data_path(name, TIMESTAMP)
    ok(runner.run("backup_data", str(path), stdin=data, config=config))
    assert flip.faulted == 1 and flip.matched == 2  # refused once, then sent again
    assert stored(s3, runner.key(path)) == data
    restored = runner.run("restore_data", str(path), config=config)
    ok(restored)
    assert restored.stdout == data
    log = runner.log_text()
    assert RCLONE_CHOICE in log
    sent = base64.b64encode(hashlib.md5(data).digest()).decode()
    refused = rf"PutObject s3://{BUCKET}/\S+{name}: attempt 1 refused: .*BadDigest.*Content-MD5 {re.escape(sent)}"
    assert re.search(refused, log)
    # the data PutObjects carried the digest the store verifies
    writes = [seen for seen in runner.proxy.seen if writes_of(name)(Request(seen.method, seen.target, seen.headers))]
    assert [seen.header("Content-MD5") for seen in writes] == [sent, sent]


@AGENT_ONLY  # a refused part is sent again by the shared S3 layer; PutObject runs both ways above
def test_a_flipped_upload_part_is_refused_and_never_stored(runner: FaultRunner, s3: Any) -> None:
    """Sent again and stored intact where the store keeps the upload open after a refused part (S3, Ceph RGW);
    a clean failure naming the part where it fails the whole upload (rclone: "a part was rejected after it had
    been streamed to the backend, so the upload must be started again")."""
    config = auto_config(runner)
    name = f"gpbackup_0_{TIMESTAMP}_2"
    flip = runner.proxy.add(FlipUpload(4 * MIB + 7), path=writes_of(name, part=1), times=1)
    data = random_bytes(5 * MIB + 3000, 2)
    path = runner.data_path(name, TIMESTAMP)
    result = runner.run("backup_data", str(path), stdin=data, config=config)
    assert flip.faulted == 1 and runner.uploads(s3) == []
    if result.returncode == 0:
        ok(result)
        assert flip.matched == 2 and runner.proxy.count("PUT", UPLOAD_PART) == 3  # part 1 twice, part 2 once
        assert stored(s3, runner.key(path)) == data
        restored = runner.run("restore_data", str(path), config=config)
        ok(restored)
        assert restored.stdout == data
    else:
        assert result.returncode == 1
        one_stderr_line(result, f"UploadPart 1 of s3://{BUCKET}/{runner.key(path)}")
        assert listed(s3, runner.key(path)) == []


def test_a_put_flipped_on_every_attempt_fails_cleanly_naming_the_object(runner: FaultRunner, s3: Any) -> None:
    config = auto_config(runner, max_attempts=3)
    name = f"gpbackup_0_{TIMESTAMP}_3"
    flip = runner.proxy.add(FlipUpload(0), path=writes_of(name))
    data = random_bytes(3000, 3)
    path = runner.data_path(name, TIMESTAMP)
    result = runner.run("backup_data", str(path), stdin=data, config=config)
    assert result.returncode == 1
    line = one_stderr_line(result, f"PutObject s3://{BUCKET}/{runner.key(path)}:", "did not match their digest")
    assert "3 times" in line and "BadDigest" in line
    assert flip.faulted == 3
    assert listed(s3, runner.key(path)) == []
    log = runner.log_text()
    expected = base64.b64encode(hashlib.md5(data).digest()).decode()
    assert f"sent Content-MD5 {expected}" in log and "the store did not say what it computed" in log


@AGENT_ONLY  # what the probes conclude is the same from either door; the next tests count probes per door
def test_auto_on_a_store_that_ignores_every_digest_is_not_taken_for_verified(runner: FaultRunner, s3: Any) -> None:
    """200 to a wrong CRC-32C, Content-MD5 and SHA-256, each echoed in the answer: uploads are said unverified."""
    ignoring = runner.proxy.add(IgnoreDigests(), path=lambda request: request.method == "PUT")
    config = auto_config(runner)
    data = random_bytes(3000, 4)
    path = runner.data_path(f"gpbackup_0_{TIMESTAMP}_4", TIMESTAMP)
    ok(runner.run("backup_data", str(path), stdin=data, config=config))
    log = runner.log_text()
    assert "it verifies none, so uploads are NOT verified on arrival" in log
    assert "the cheapest mode the store verifies" not in log
    assert ignoring.matched >= 4  # three probes and the data
    echoed = [seen for seen in runner.proxy.seen if PROBE in seen.target and seen.method == "PUT"]
    assert len(echoed) == 3
    ok(restored := runner.run("restore_data", str(path), config=config))
    assert restored.stdout == data
    table = lines_by_label(runner.run("check", config=config).stdout)
    assert table["verified mode"][0] == "warn" and table["verified mode"][1].startswith("none")
    assert all(table[f"probe {digest}"][1].endswith("accepts, does not verify (200)") for digest in ("crc32c", "md5"))
    assert [label for label, (status, _) in table.items() if label.startswith("mode ") and status == "ok"] == []
    assert [key for key in listed(s3, runner.folder) if PROBE in key] == []


def test_check_reports_per_mode_what_the_store_accepts_and_verifies(runner: FaultRunner, s3: Any) -> None:
    config = auto_config(runner)
    result = runner.run("check", config=config)
    ok(result)
    table = lines_by_label(result.stdout)
    assert table["probe crc32c"] == ("info", "a wrong x-amz-checksum-crc32c: accepts, does not verify (200)")
    assert table["probe md5"] == ("info", "a wrong Content-MD5: verifies (400 BadDigest)")
    assert table["probe sha256"][1].startswith("a wrong signed payload SHA-256: ")
    assert table["mode unsigned/crc32c"][0] == "warn" and "NOT verified" in table["mode unsigned/crc32c"][1]
    assert table["mode unsigned/md5"][0] == "ok"
    assert table["mode signed/md5"][0] == "ok"
    assert table["verified mode"] == (
        "ok", "payload_signing: unsigned, upload_checksum: md5, the cheapest mode the store verifies (auto picks it)"
    )  # fmt: skip
    assert listed(s3, runner.folder) == [] and runner.uploads(s3) == []


HELD = 3.0


def test_a_probe_slow_to_answer_is_waited_for_not_sent_twice(runner: FaultRunner, s3: Any) -> None:
    """A probe held past the fault options' 2 s ``read_timeout`` is answered, once: given up and sent again,
    its first copy would land after the scratch objects were removed and stay in the bucket.  The next probe
    waits for its answer: rclone can lose an object written beside a refused one at the same moment."""
    config = auto_config(runner)
    crc_probe = re.compile(PROBE + r"[0-9a-f]+/crc32c$")
    held = runner.proxy.add(delay(HELD), method="PUT", path=crc_probe.pattern, times=1)
    result = runner.run("check", config=config)
    ok(result)
    assert held.faulted == 1
    assert lines_by_label(result.stdout)["probe crc32c"] == (
        "info", "a wrong x-amz-checksum-crc32c: accepts, does not verify (200)"
    )  # fmt: skip
    sent = Counter(seen.target for seen in runner.proxy.seen if seen.method == "PUT" and crc_probe.search(seen.target))
    assert sent and set(sent.values()) == {1}  # check probes once for its table and once to choose its modes
    first = next(seen for seen in runner.proxy.seen if seen.fault is not None)
    scratch = first.target.rsplit("/", 1)[0] + "/"
    others = [seen.at - first.at for seen in runner.proxy.seen if seen.target.startswith(scratch) and seen is not first]
    assert others and min(others) >= HELD, "the other probes went after the held one was answered"
    assert listed(s3, runner.folder) == []


def test_an_explicit_mode_keeps_its_meaning_and_check_says_it_is_not_verified(runner: FaultRunner) -> None:
    config = runner.make_config("crc.yaml", payload_signing="unsigned", upload_checksum="crc32c")
    result = runner.run("check", config=config)
    ok(result)
    table = lines_by_label(result.stdout)
    assert table["store modes"] == ("ok", "payload_signing: unsigned, upload_checksum: crc32c accepted")
    assert table["verified mode"][0] == "warn"
    assert "payload_signing: unsigned, upload_checksum: crc32c is NOT verified" in table["verified mode"][1]
    data = random_bytes(3000, 5)
    path = runner.data_path(f"gpbackup_0_{TIMESTAMP}_5", TIMESTAMP)
    ok(runner.run("backup_data", str(path), stdin=data, config=config))
    puts = [seen for seen in runner.proxy.seen if seen.method == "PUT" and seen.target.split("?")[0].endswith("_5")]
    assert puts and all(seen.header("x-amz-checksum-crc32c") and not seen.header("Content-MD5") for seen in puts)


def test_the_probes_run_once_per_agent_and_leave_nothing(runner: FaultRunner, s3: Any) -> None:
    config = auto_config(runner)
    calls = 0
    local_dir = str(runner.backup_dir(TIMESTAMP))
    ok(runner.run("setup_plugin_for_backup", local_dir, "coordinator", config=config))
    calls += 1
    for number in range(3):
        path = runner.data_path(f"gpbackup_0_{TIMESTAMP}_{10 + number}", TIMESTAMP)
        ok(runner.run("backup_data", str(path), stdin=random_bytes(2000, number), config=config))
        calls += 1
    restored = runner.run("restore_data", str(path), config=config)  # restores never probe
    ok(restored)
    # distinct objects, not requests: under load botocore may send a probe again on a fresh connection
    written = {seen.target for seen in runner.proxy.seen if seen.method == "PUT" and PROBE in seen.target}
    deleted = {seen.target for seen in runner.proxy.seen if seen.method == "DELETE" and PROBE in seen.target}
    expected = 3 if runner.mode == "agent" else 3 * calls
    assert len(written) == expected, (runner.mode, sorted(written))
    assert deleted == written  # every probe's object removed
    assert [key for key in listed(s3, runner.folder) if PROBE in key] == []
    assert runner.log_text().count(RCLONE_CHOICE) == (1 if runner.mode == "agent" else calls)


def test_rgw_a_default_backup_through_a_flipping_proxy_is_verified(
    request: pytest.FixtureRequest, runner: FaultRunner, tmp_path: Path
) -> None:
    """Ceph RGW 16 ignores x-amz-checksum-crc32c; auto must pick a digest it checks (its signed SHA-256)."""
    try:
        rgw = request.getfixturevalue("rgw_server")
    except pytest.FixtureLookupError:
        pytest.skip("needs the rgw_server fixture (a real Ceph RGW), not in this tree yet")
    from urllib.parse import urlsplit

    import boto3  # type: ignore[import-untyped]

    # A prefix of this test's own in a store other tests and people share.
    runner = dataclasses.replace(runner, folder=f"verified-upload/{runner.folder}")
    where = urlsplit(str(rgw.endpoint))
    key_id, secret = getattr(rgw, "access_key", "RGWKEY"), getattr(rgw, "secret_key", "RGWSECRET")
    bucket = getattr(rgw, "bucket", BUCKET)
    with FaultProxy(int(where.port or 80), where.hostname or "127.0.0.1") as proxy:
        config = runner.make_config(
            "rgw.yaml", endpoint=proxy.endpoint, bucket=bucket, aws_access_key_id=key_id,
            aws_secret_access_key=secret, **AUTO,
        )  # fmt: skip
        name = f"gpbackup_0_{TIMESTAMP}_9"
        flip = proxy.add(FlipUpload(123), path=writes_of(name, part=1), times=1)
        data = random_bytes(5 * MIB + 3000, 9)
        path = runner.data_path(name, TIMESTAMP)
        ok(runner.run("backup_data", str(path), stdin=data, config=config))
        assert flip.faulted == 1 and flip.matched == 2
        assert "chose signed/none, the cheapest mode the store verifies" in runner.log_text()
        client = boto3.client("s3", endpoint_url=str(rgw.endpoint), aws_access_key_id=key_id,
                              aws_secret_access_key=secret, region_name="us-east-1")  # fmt: skip
        try:
            assert bytes(client.get_object(Bucket=bucket, Key=runner.key(path))["Body"].read()) == data
        finally:
            ok(runner.run("delete_backup", TIMESTAMP, config=config))
