"""S3 Object Lock against a real Ceph RGW: locked backup sets, honest deletes, probes that leave nothing, ``check``.

Buckets are made with ``ObjectLockEnabledForBucket`` (which turns versioning on):
one without and one with a bucket default retention.  Objects are locked in
governance mode with a one- or two-day retention, so a test can still remove
what it made with ``x-amz-bypass-governance-retention``; one compliance
backup is left to the RGW's end (its data lives in memory).  Timestamps come
from the clock, so a one-day lock is never over already.  One test runs on
rclone, which has no Object Lock.  The RGW runs the plugin through the agent
only (``tests/conftest.py``); rclone runs both front doors.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from gps3async.core.integrity.checksums import DIGEST_SUFFIX
from gps3async.core.objectlock import parse_store_date, retain_until
from tests.cli.test_check import lines_by_label
from tests.conftest import Plugin
from tests.gpbackup_harness import Cluster

pytestmark = pytest.mark.stores("rgw")

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def lock_buckets(s3: Any) -> dict[str, str]:
    """Buckets with Object Lock: ``plain`` (no default retention) and ``default`` (governance, one day)."""
    names = {kind: f"lock-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("plain", "default")}
    for name in names.values():
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket=names["default"],
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}},
        },
    )
    return names


def versions(s3: Any, bucket: str, prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every version and every delete marker under ``prefix``."""
    found: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        found[0].extend(page.get("Versions") or [])
        found[1].extend(page.get("DeleteMarkers") or [])
    return found


def retention(s3: Any, bucket: str, version: dict[str, Any]) -> tuple[str, datetime | None]:
    answer = s3.get_object_retention(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])
    return answer["Retention"]["Mode"], parse_store_date(answer["Retention"]["RetainUntilDate"])


def rows(rng: random.Random, content: int, oid: int) -> bytes:
    count = 100_000 if (oid, content) == (16393, 1) else rng.randrange(50, 1500)  # 16393 on segment 1: multipart
    return b"".join(b"%d,%d,%s\n" % (oid, n, rng.randbytes(24).hex().encode()) for n in range(count))


@pytest.fixture
def locked_cluster(
    plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path], lock_buckets: dict[str, str]
) -> Iterator[Cluster]:
    config = config_factory(
        "s3_config.yaml", bucket=lock_buckets["plain"], object_lock_mode="governance", object_lock_retain_days=2
    )
    made = Cluster(tmp_path / "cluster", config, plugin.env())
    try:
        yield made
    finally:
        made.remove_config_copies()


def test_every_object_of_a_backup_set_is_locked_until_its_timestamp_plus_days(
    locked_cluster: Cluster, plugin: Plugin, s3: Any, lock_buckets: dict[str, str]
) -> None:
    bucket = lock_buckets["plain"]
    rng = random.Random(23)
    tables = {c: {oid: rows(rng, c, oid) for oid in (16384, 16393)} for c in locked_cluster.contents}
    backup = locked_cluster.backup(tables, single_data_file=True)
    prefix = f"{plugin.folder}/backups/{backup.timestamp[:8]}/{backup.timestamp}/"
    found, markers = versions(s3, bucket, prefix)
    names = {item["Key"].rsplit("/", 1)[-1] for item in found}
    assert f"gpbackup_1_{backup.timestamp}{DIGEST_SUFFIX}" in names, "the multipart data file's companion is there"
    assert f"gpbackup_{backup.timestamp}_report" in names and f"gpbackup_{backup.timestamp}_toc.yaml" in names
    assert markers == []
    log = "".join(path.read_text() for path in (plugin.home / "gpAdminLogs").glob("*.log"))
    fixed = f"gpbackup_1_{backup.timestamp}: no retention after the write; setting GOVERNANCE until"
    assert fixed in log, "RGW 16 ignored the multipart upload's lock headers: PutObjectRetention set them"
    want = retain_until(backup.timestamp, 2)
    for version in found:  # the report's setup placeholder is a version of its own: locked too
        assert retention(s3, bucket, version) == ("GOVERNANCE", want), version["Key"]
    locked_cluster.wipe_local_backups()
    assert locked_cluster.restore(backup) == tables
    deep = plugin.run("verify", backup.timestamp, "--deep", config=locked_cluster.user_config)
    assert deep.returncode == 0, deep.stderr.decode()

    longer = locked_cluster.root / "longer.yaml"
    longer.write_text(
        locked_cluster.user_config.read_text().replace("object_lock_retain_days: 2", "object_lock_retain_days: 3")
    )
    short = plugin.run("verify", backup.timestamp, config=longer)
    retention_lines = [line for line in short.stdout.decode().splitlines() if line.startswith("RETENTION")]
    assert short.returncode != 0 and len(retention_lines) == len({item["Key"] for item in found}), short.stdout
    assert "short of " + retain_until(backup.timestamp, 3).strftime("%Y-%m-%dT%H:%M:%SZ") in retention_lines[0]

    one = found[0]
    with pytest.raises(ClientError, match="AccessDenied"):  # the store itself refuses, before the date
        s3.delete_object(Bucket=bucket, Key=one["Key"], VersionId=one["VersionId"])
    refused = plugin.run("delete_backup", backup.timestamp, config=locked_cluster.user_config)
    error = refused.stderr.decode()
    assert refused.returncode != 0 and error.count("\n") == 1, error
    assert f"delete_backup {backup.timestamp}: 0 versions and delete markers deleted, but {len(found)} " in error
    assert f"{len(found)} object versions are retained by Object Lock ({len(found)} GOVERNANCE until" in error
    assert retain_until(backup.timestamp, 2).strftime("%Y-%m-%dT%H:%M:%SZ") in error
    assert "can be deleted with object_lock_bypass_governance: true" in error
    assert versions(s3, bucket, prefix) == (found, []), "nothing deleted, no delete marker hiding the set"
    bypass = locked_cluster.root / "bypass.yaml"
    bypass.write_text(locked_cluster.user_config.read_text() + "  object_lock_bypass_governance: true\n")
    deleted = plugin.run("delete_backup", backup.timestamp, config=bypass)
    assert deleted.returncode == 0 and deleted.stderr == b"", deleted.stderr.decode()
    assert versions(s3, bucket, prefix) == ([], [])


def test_compliance_versions_stay_through_overwrites_and_deletes_and_the_message_says_so(
    plugin: Plugin, config_factory: Callable[..., Path], s3: Any, lock_buckets: dict[str, str]
) -> None:
    bucket, timestamp = lock_buckets["plain"], time.strftime("%Y%m%d%H%M%S")
    config = config_factory(
        "compliance.yaml", bucket=bucket, object_lock_mode="compliance", object_lock_retain_days=1,
        object_lock_bypass_governance="true", upload_checksum="none", payload_signing="unsigned",
    )  # fmt: skip
    backup_dir = plugin.backup_dir(timestamp)
    data = random.Random(9).randbytes(6 * MIB)
    stream = plugin.run("backup_data", str(backup_dir / f"gpbackup_0_{timestamp}"), stdin=data, config=config)
    assert stream.returncode == 0, stream.stderr.decode()
    report = backup_dir / f"gpbackup_{timestamp}_report"
    for text in (b"first\n", b"second\n"):  # the second write is a new version; the first stays, locked
        report.write_bytes(text)
        done = plugin.run("backup_file", str(report), config=config)
        assert done.returncode == 0, done.stderr.decode()
    prefix = f"{plugin.folder}/backups/{timestamp[:8]}/{timestamp}/"
    found, _ = versions(s3, bucket, prefix)
    assert len(found) == 4  # the data, its companion, the report twice
    want = ("COMPLIANCE", retain_until(timestamp, 1))
    assert all(retention(s3, bucket, version) == want for version in found)
    refused = plugin.run("delete_backup", timestamp, config=config)
    error = refused.stderr.decode()
    assert refused.returncode != 0 and error.count("\n") == 1, error
    assert "4 object versions are retained by Object Lock (4 COMPLIANCE until" in error
    assert "compliance-mode versions cannot be deleted by anyone before their date" in error
    assert versions(s3, bucket, prefix) == (found, [])
    report.unlink()
    again = plugin.run("restore_file", str(report), config=config)
    assert again.returncode == 0 and report.read_bytes() == b"second\n"


@pytest.mark.stores("rclone")
def test_lock_options_on_a_store_without_object_lock_give_one_clear_error(
    plugin: Plugin, config_factory: Callable[..., Path]
) -> None:
    config = config_factory("lock.yaml", object_lock_mode="governance", object_lock_retain_days=3)
    timestamp = time.strftime("%Y%m%d%H%M%S")
    path = plugin.backup_dir(timestamp) / f"gpbackup_{timestamp}_report"
    path.write_bytes(b"report\n")
    done = plugin.run("backup_file", str(path), config=config)
    error = done.stderr.decode()
    assert done.returncode != 0 and error.count("\n") == 1, error
    assert "Object Lock" in error and "remove object_lock_mode and object_lock_retain_days" in error


def test_a_default_retention_bucket_takes_backups_and_keeps_no_probe_objects_over_ten_agents(
    plugin: Plugin, config_factory: Callable[..., Path], s3: Any, lock_buckets: dict[str, str]
) -> None:
    bucket = lock_buckets["default"]
    config = config_factory("default.yaml", bucket=bucket, logger_verbosity="verbose")
    backup_dir = plugin.backup_dir("20261206101500")
    data = random.Random(5).randbytes(6 * MIB)  # two parts: the bucket's default retention locks it too
    for start in range(10):  # each fresh agent learns the store's modes
        if start == 0:
            done = plugin.run("backup_data", str(backup_dir / "gpbackup_0_20261206101500"), stdin=data, config=config)
        else:
            done = plugin.run("setup_plugin_for_backup", str(backup_dir), "coordinator", config=config)
        assert done.returncode == 0, done.stderr.decode()
        plugin.stop_agents()
    log = "".join(path.read_text() for path in (plugin.home / "gpAdminLogs").glob("*.log"))
    assert log.count("store modes for s3://" + bucket) == 10, "every agent probed"
    # As parts, the probes find what PutObject probes find on RGW: Content-MD5 and a signed SHA-256 verified.
    assert "a wrong Content-MD5: verifies (400 BadDigest); a wrong signed payload SHA-256: verifies" in log
    found, markers = versions(s3, bucket, f"{plugin.folder}/")
    left = [item["Key"] for item in found + markers if "/backups/" not in item["Key"]]
    assert left == [], f"the probes left {len(left)} versions and delete markers"
    assert not s3.list_multipart_uploads(Bucket=bucket, Prefix=f"{plugin.folder}/").get("Uploads")
    backup = [item for item in found if item["Key"].endswith("gpbackup_0_20261206101500")]
    assert len(backup) == 1 and retention(s3, bucket, backup[0])[0] == "GOVERNANCE"
    restored = plugin.run("restore_data", str(backup_dir / "gpbackup_0_20261206101500"), config=config)
    assert restored.returncode == 0 and restored.stdout == data
    refused = plugin.run("delete_backup", "20261206101500", config=config)  # the bucket's default keeps the set
    assert refused.returncode != 0 and refused.stderr.decode().count("\n") == 1, refused.stderr.decode()
    assert "object versions are retained by Object Lock (" in refused.stderr.decode()
    assert "GOVERNANCE until" in refused.stderr.decode()


def test_check_reports_object_lock_proves_a_locked_write_and_refuses_the_options_without_it(
    plugin: Plugin, config_factory: Callable[..., Path], lock_buckets: dict[str, str]
) -> None:
    locked = config_factory(
        "check.yaml", bucket=lock_buckets["plain"], object_lock_mode="governance", object_lock_retain_days=3,
        object_lock_bypass_governance="true",
    )  # fmt: skip
    result = plugin.run("check", config=locked)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    table = lines_by_label(result.stdout)
    assert table["Object Lock"] == ("ok", table["Object Lock"][1])
    assert table["Object Lock"][1].startswith("enabled, no default retention")
    assert table["versioning"][1].startswith("Enabled: deletes go by version id")
    assert table["locked PutObject"][0] == "ok" and "GOVERNANCE until" in table["locked PutObject"][1]
    assert table["scratch versions"][0] == "ok", table["scratch versions"]  # with bypass even the proof goes

    default = plugin.run("check", config=config_factory("default.yaml", bucket=lock_buckets["default"]))
    assert default.returncode == 0, default.stdout.decode() + default.stderr.decode()
    table = lines_by_label(default.stdout)
    assert table["Object Lock"] == ("info", "enabled, default retention GOVERNANCE for 1 days")
    assert table["scratch versions"][0] == "info" and "kept by Object Lock" in table["scratch versions"][1]

    unlocked = plugin.run("check", config=config_factory("unlocked.yaml", object_lock_mode="compliance",
                                                         object_lock_retain_days=1))  # fmt: skip
    table = lines_by_label(unlocked.stdout)
    assert unlocked.returncode != 0 and unlocked.stderr.decode().count("\n") == 1
    assert table["Object Lock"] == ("ok", table["Object Lock"][1])
    assert table["Object Lock"][1].startswith("not enabled")
    assert table["Object Lock options"][0] == "FAILED"
    assert "created with Object Lock enabled" in table["Object Lock options"][1]
    assert "Object Lock options failed" in unlocked.stderr.decode()


@pytest.mark.parametrize("modes", [("unsigned", "crc32c"), ("unsigned", "md5")])  # signed/none: the tests above
def test_locked_uploads_work_in_every_store_mode(
    plugin: Plugin, config_factory: Callable[..., Path], s3: Any, lock_buckets: dict[str, str], modes: tuple[str, str]
) -> None:
    bucket, timestamp = lock_buckets["plain"], time.strftime("%Y%m%d%H%M%S")
    config = config_factory(
        "modes.yaml", bucket=bucket, object_lock_mode="governance", object_lock_retain_days=1,
        payload_signing=modes[0], upload_checksum=modes[1],
    )  # fmt: skip
    path = plugin.backup_dir(timestamp) / f"gpbackup_0_{timestamp}"
    data = random.Random(3).randbytes(6 * MIB)  # multipart, then its companion as a locked PutObject
    done = plugin.run("backup_data", str(path), stdin=data, config=config)
    assert done.returncode == 0, done.stderr.decode()
    found, _ = versions(s3, bucket, f"{plugin.folder}/backups/{timestamp[:8]}/{timestamp}/")
    assert len(found) == 2 and all(
        retention(s3, bucket, v) == ("GOVERNANCE", retain_until(timestamp, 1)) for v in found
    )


def test_a_backup_whose_lock_would_end_in_the_past_fails_in_one_line_and_writes_nothing(
    plugin: Plugin, config_factory: Callable[..., Path], s3: Any, lock_buckets: dict[str, str]
) -> None:
    bucket, timestamp = lock_buckets["plain"], "20200102030405"
    config = config_factory("old.yaml", bucket=bucket, object_lock_mode="compliance", object_lock_retain_days=30)
    path = plugin.backup_dir(timestamp) / f"gpbackup_{timestamp}_report"
    path.write_bytes(b"report\n")
    done = plugin.run("backup_file", str(path), config=config)
    error = done.stderr.decode()
    assert done.returncode != 0 and error.count("\n") == 1, error
    assert "object_lock_retain_days (30) is 2020-02-01T" in error and "already past" in error
    assert versions(s3, bucket, f"{plugin.folder}/") == ([], [])
