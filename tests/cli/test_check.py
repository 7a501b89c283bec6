"""The ``check`` verb against the local server, and against a proxy that denies one S3 operation."""

from __future__ import annotations

import re
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.test_credentials import clean_env, run
from tests.cli.test_verbs import failed, ok
from tests.conftest import AGENT_ONLY, BUCKET
from tests.faults.proxy import FaultProxy, error
from tests.s3server import ACCESS_KEY, SECRET_KEY, open_uploads

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Plugin
    from tests.s3server import S3Server

OPERATIONS = (
    "PutObject", "HeadObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "GetObject", "ListObjectsV2", "AbortMultipartUpload", "DeleteObjects", "ListMultipartUploads",
)  # fmt: skip


def lines_by_label(stdout: bytes) -> dict[str, tuple[str, str]]:
    """``label -> (status, detail)`` from the check's stdout (the last line of a label wins)."""
    table: dict[str, tuple[str, str]] = {}
    for line in stdout.decode().splitlines():
        label, status, detail = line[:24].strip(), line[25:32].strip(), line[33:]
        table[label] = (status, detail)
    return table


def keys_under(s3: Any, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_check_passes_and_leaves_nothing_behind(plugin: Plugin, s3: Any) -> None:
    result = plugin.run("check")
    table = lines_by_label(ok(result))
    for operation in ("config", "credentials", *OPERATIONS, "unfinished uploads", "result"):
        assert table[operation][0] == "ok", (operation, table[operation])
    assert table["credentials"][1].startswith("config file: access key ...-key")
    assert table["secret in config"][0] == "warn", "the suite's configs hold the secret itself"
    assert table["secret in config"][1].startswith("the config holds a literal aws_secret_access_key, which gpbackup")
    assert table["unfinished uploads"][1] == f"none under {plugin.folder}/"
    # auto on the suite's rclone server: it ignores a wrong x-amz-checksum-crc32c and checks Content-MD5
    assert table["store modes"] == ("ok", "payload_signing: unsigned, upload_checksum: md5 accepted")
    assert table["verified mode"][0] == "ok" and "upload_checksum: md5, the cheapest" in table["verified mode"][1]
    assert re.match(r"5 MiB alone [\d.]+ MB/s, 3 x 5 MiB at once [\d.]+ MB/s", table["upload speed"][1])
    assert re.match(r"backup_multipart_chunksize: (16|32|64)MB, backup_max_concurrent_requests: [248], "
                    r"restore_multipart_chunksize: (16|32|64)MB, restore_max_concurrent_requests: [248] \(",
                    table["suggested settings"][1])  # fmt: skip
    assert SECRET_KEY not in result.stdout.decode()
    assert keys_under(s3, plugin.folder) == []
    assert open_uploads(s3, BUCKET, plugin.folder) == []


#: (operation, method, target pattern, the IAM action its fix names, operations skipped because it failed)
DENIALS = [
    ("PutObject", "PUT", r"/object$", "s3:PutObject", ["HeadObject"]),
    ("HeadObject", "HEAD", r"/object$", "s3:GetObject", []),
    ("CreateMultipartUpload", "POST", r"\?uploads$", "s3:PutObject",
     ["UploadPart", "CompleteMultipartUpload", "GetObject", "AbortMultipartUpload"]),
    ("UploadPart", "PUT", r"[?&]partNumber=", "s3:PutObject", ["CompleteMultipartUpload", "GetObject"]),
    ("CompleteMultipartUpload", "POST", r"\?uploadId=", "s3:PutObject", ["GetObject"]),
    ("GetObject", "GET", r"/multipart$", "s3:GetObject", []),
    ("ListObjectsV2", "GET", r"list-type=2", "s3:ListBucket", ["DeleteObjects"]),
    ("AbortMultipartUpload", "DELETE", r"\?uploadId=", "s3:AbortMultipartUpload", []),
    ("DeleteObjects", "POST", r"\?delete", "s3:DeleteObject", []),
]  # fmt: skip


#: check runs in the core both front doors share: the in-process door takes the first and the last denial.
BOTH_DOORS = {"PutObject", "DeleteObjects"}


@pytest.mark.parametrize(
    ("operation", "method", "target", "action", "skipped"),
    [pytest.param(*denial, id=denial[0], marks=() if denial[0] in BOTH_DOORS else AGENT_ONLY) for denial in DENIALS],
)
def test_check_names_the_one_denied_operation_and_its_fix(
    plugin: Plugin, s3_server: S3Server, s3: Any, config_factory: Callable[..., Path],
    operation: str, method: str, target: str, action: str, skipped: list[str],
) -> None:  # fmt: skip
    with FaultProxy(s3_server.port) as proxy:
        rule = proxy.add(error(403, "AccessDenied", "Access Denied"), method=method, path=target)
        config = config_factory(endpoint=proxy.endpoint)
        result = plugin.run("check", config=config)
    line = failed(result)
    assert result.returncode == 1 and rule.faulted >= 1
    assert line.startswith(f"gpbackup_s3_plugin: check: {operation} failed; a backup or a restore would fail")
    table = lines_by_label(result.stdout)
    status, detail = table[operation]
    assert status == "FAILED" and "access denied" in detail
    assert f"likely fix: allow {action} on arn:aws:s3:::{BUCKET}" in detail
    for name in OPERATIONS:
        if name != operation:
            assert table[name][0] == ("skipped" if name in skipped else "ok"), (name, table[name])
    assert "result" not in table
    if operation == "DeleteObjects":  # the clean-up cannot delete either, and says so
        assert table["clean-up"][0] == "FAILED"
        for key in keys_under(s3, plugin.folder):
            s3.delete_object(Bucket=BUCKET, Key=key)
    assert keys_under(s3, plugin.folder) == []
    if operation != "AbortMultipartUpload":
        assert open_uploads(s3, BUCKET, plugin.folder) == []


def test_check_only_warns_when_unfinished_uploads_cannot_be_listed(
    plugin: Plugin, s3_server: S3Server, config_factory: Callable[..., Path]
) -> None:
    """A backup and a restore work without ListMultipartUploads: exit 0, with a warning and its fix."""
    with FaultProxy(s3_server.port) as proxy:
        rule = proxy.add(error(403, "AccessDenied", "Access Denied"), method="GET", path=r"\?uploads")
        result = plugin.run("check", config=config_factory(endpoint=proxy.endpoint))
    table = lines_by_label(ok(result))
    assert rule.faulted >= 1 and table["result"][0] == "ok"
    status, detail = table["ListMultipartUploads"]
    assert status == "warn" and "delete_backup cannot abort the unfinished uploads of failed backups" in detail
    assert f"likely fix: allow s3:ListBucketMultipartUploads on arn:aws:s3:::{BUCKET} " in detail
    assert "unfinished uploads" not in table


def test_delete_backup_without_upload_listing_still_deletes(
    plugin: Plugin, s3_server: S3Server, s3: Any, config_factory: Callable[..., Path]
) -> None:
    path = plugin.backup_dir() / "gpbackup_0_20261126101500"
    ok(plugin.run("backup_data", str(path), stdin=b"x"))
    with FaultProxy(s3_server.port) as proxy:
        proxy.add(error(403, "AccessDenied", "Access Denied"), method="GET", path=r"\?uploads")
        ok(plugin.run("delete_backup", "20261126101500", config=config_factory(endpoint=proxy.endpoint)))
    assert keys_under(s3, plugin.folder) == []
    log = "".join(p.read_text() for p in (plugin.home / "gpAdminLogs").glob("*.log"))
    assert "unfinished uploads under" in log and "are not aborted" in log


def test_check_reports_unfinished_uploads_and_aborts_them_when_asked(plugin: Plugin, s3: Any) -> None:
    key = plugin.key(plugin.backup_dir() / "gpbackup_0_20261126101500")
    s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    status, detail = lines_by_label(ok(plugin.run("check")))["unfinished uploads"]
    assert status == "warn" and detail.startswith(f"1 under {plugin.folder}/ (oldest started ")
    assert "check CONFIG --abort-uploads" in detail
    assert len(open_uploads(s3, BUCKET, plugin.folder)) == 1
    status, detail = lines_by_label(ok(plugin.run("check", "--abort-uploads")))["unfinished uploads"]
    assert status == "ok" and detail.startswith(f"aborted 1 under {plugin.folder}/")
    assert open_uploads(s3, BUCKET, plugin.folder) == []


def test_check_rejects_unknown_options(plugin: Plugin) -> None:
    result = plugin.run("check", "--abort")
    assert "unknown check option '--abort'" in failed(result) and result.returncode == 2


def test_check_names_the_credential_source_without_a_secret(
    plugin: Plugin, config_factory: Callable[..., Path]
) -> None:
    config = config_factory(aws_access_key_id="${BACKUP_KEY_ID}", aws_secret_access_key="${BACKUP_SECRET}")
    result = run(plugin, config, clean_env(plugin, BACKUP_KEY_ID=ACCESS_KEY, BACKUP_SECRET=SECRET_KEY), "check")
    table = lines_by_label(ok(result))
    assert table["credentials"][1].startswith("environment (${BACKUP_KEY_ID}, ${BACKUP_SECRET}): access key ...-key")
    chain = config_factory("chain.yaml", aws_access_key_id=None, aws_secret_access_key=None)
    env = clean_env(plugin, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    table = lines_by_label(ok(run(plugin, chain, env, "check")))
    assert table["credentials"][1].startswith("default chain: environment variables (AWS_ACCESS_KEY_ID), access key")
    for output in (result.stdout, result.stderr):
        assert SECRET_KEY.encode() not in output


def test_check_without_credentials_stops_at_them(plugin: Plugin, config_factory: Callable[..., Path]) -> None:
    config = config_factory(aws_access_key_id=None, aws_secret_access_key=None)
    result: subprocess.CompletedProcess[bytes] = run(plugin, config, clean_env(plugin), "check")
    assert "check: no usable credentials" in failed(result)
    status, detail = lines_by_label(result.stdout)["credentials"]
    assert status == "FAILED" and "likely fix: give credentials" in detail
    assert "PutObject" not in lines_by_label(result.stdout)
