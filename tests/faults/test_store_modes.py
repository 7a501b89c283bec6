"""``payload_signing`` and ``upload_checksum`` against strict stores (:mod:`tests.faults.stores`).

Each mode round-trips byte for byte, deletes included, through every store
that accepts it, and fails with one stderr line naming the option to set
through every store that refuses it; either way no multipart upload is left
open.  Small objects take the PutObject path, larger ones the multipart path
(5 MiB parts) plus the PutObject of their digest companion.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.cli.test_check import lines_by_label
from tests.conftest import BUCKET, EVERY_STORE, RCLONE_ONLY
from tests.faults.conftest import MIB, random_bytes
from tests.faults.stores import PROFILES, Profile, install
from tests.faults.test_faults import DELETE_OBJECTS, UPLOAD_PART, ok, one_stderr_line
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY

if TYPE_CHECKING:
    from tests.faults.conftest import FaultRunner
    from tests.faults.proxy import FaultProxy

pytestmark = EVERY_STORE

TIMESTAMP = "20261126101500"
MODES = [("unsigned", "crc32c"), ("signed", "crc32c"), ("unsigned", "md5"), ("signed", "md5"), ("unsigned", "none")]


def listed(s3: Any, prefix: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


@pytest.mark.agent_only  # the S3 layer both doors share; check's store modes run both ways
@pytest.mark.parametrize("profile", PROFILES, ids=[profile.name for profile in PROFILES])
@pytest.mark.parametrize(("signing", "checksum"), MODES, ids=[f"{s}-{c}" for s, c in MODES])
def test_each_mode_through_each_strict_store(
    runner: FaultRunner, s3: Any, profile: Profile, signing: str, checksum: str
) -> None:
    config = runner.make_config("modes.yaml", payload_signing=signing, upload_checksum=checksum)
    verified = install(runner.proxy, profile)
    small, multi = random_bytes(3000, 1), random_bytes(5 * MIB + 3000, 2)
    paths = {runner.data_path(f"gpbackup_0_{TIMESTAMP}_1"): small, runner.data_path(f"gpbackup_0_{TIMESTAMP}_2"): multi}
    results = [runner.run("backup_data", str(path), stdin=data, config=config) for path, data in paths.items()]
    if profile.accepts(signing, checksum):
        for result in results:
            ok(result)
        for path, data in paths.items():
            restored = runner.run("restore_data", str(path), config=config)
            ok(restored)
            assert restored.stdout == data
        ok(runner.run("delete_backup", TIMESTAMP, config=config))
        assert listed(s3, runner.folder) == []
        # The store checked every body it was given: 2 parts, 2 PutObject (one a digest companion), 1 DeleteObjects.
        assert verified.matched >= 5
        assert runner.proxy.count("POST", DELETE_OBJECTS) >= 1  # deletes went through the strict store too
    else:
        for result in results:
            assert result.returncode == 1
            one_stderr_line(result, profile.fix)
        assert listed(s3, runner.folder) == []
    assert runner.uploads(s3) == []


def test_signed_payloads_carry_the_sha256_of_each_body(runner: FaultRunner) -> None:
    """On the wire: a real hex SHA-256 per part, computed by the plugin and accepted by a store that checks it."""
    config = runner.make_config("signed.yaml", payload_signing="signed", upload_checksum="md5")
    install(runner.proxy, PROFILES[0])  # refuses UNSIGNED-PAYLOAD, checks a hex SHA-256 against the body
    data = random_bytes(5 * MIB + 10, 3)
    path = runner.data_path(f"gpbackup_0_{TIMESTAMP}")
    ok(runner.run("backup_data", str(path), stdin=data, config=config))
    parts = [seen for seen in runner.proxy.seen if seen.method == "PUT" and "partNumber=" in seen.target]
    by_number = {seen.target.split("partNumber=")[1].split("&")[0]: seen for seen in parts}
    for number, body in (("1", data[: 5 * MIB]), ("2", data[5 * MIB :])):
        seen = by_number[number]
        assert seen.header("x-amz-content-sha256") == hashlib.sha256(body).hexdigest()
        assert seen.header("Content-MD5") == base64.b64encode(hashlib.md5(body).digest()).decode()
        assert [name for name, _ in seen.headers if name.lower().startswith(("x-amz-checksum", "x-amz-sdk"))] == []
        assert seen.header("Content-Encoding") is None and seen.header("x-amz-decoded-content-length") is None
    assert all(seen.fault is None or "VerifyBody" in seen.fault for seen in runner.proxy.seen)
    assert runner.proxy.count("PUT", UPLOAD_PART) == 2


def signed_put(proxy: FaultProxy, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """PUT ``body`` through ``proxy`` signed with SigV4 over ``headers`` as given (a claimed SHA-256 included)."""
    request = AWSRequest("PUT", f"{proxy.endpoint}/{BUCKET}/tests/strict-store/x", data=body, headers=headers)
    SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    prepared = request.prepare()
    sent = urllib.request.Request(prepared.url, data=prepared.body, method="PUT", headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(sent, timeout=10) as answer:
            return int(answer.status), bytes(answer.read())
    except urllib.error.HTTPError as refused:
        return int(refused.code), bytes(refused.read())


@RCLONE_ONLY  # the proxy's own checks, whatever is behind it
def test_the_strict_stores_catch_a_body_that_does_not_match_its_digest(proxy: FaultProxy) -> None:
    """The checks the round trips rely on can fail: a missing or wrong Content-MD5, a wrong SHA-256."""

    def md5(data: bytes) -> str:
        return base64.b64encode(hashlib.md5(data).digest()).decode()

    def sha256(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    install(proxy, PROFILES[2])  # requires_md5
    assert signed_put(proxy, b"body", {"Content-MD5": md5(b"body"), "X-Amz-Content-SHA256": sha256(b"body")})[0] == 200
    status, answer = signed_put(proxy, b"body", {"Content-MD5": md5(b"other"), "X-Amz-Content-SHA256": sha256(b"body")})
    assert (status, b"<Code>BadDigest</Code>" in answer) == (400, True)
    status, answer = signed_put(proxy, b"body", {"X-Amz-Content-SHA256": sha256(b"body")})
    assert (status, b"Content-MD5" in answer) == (400, True)
    proxy.clear()
    install(proxy, PROFILES[0])  # refuses_unsigned
    assert signed_put(proxy, b"body", {"X-Amz-Content-SHA256": sha256(b"body")})[0] == 200
    status, answer = signed_put(proxy, b"body", {"X-Amz-Content-SHA256": sha256(b"other")})
    assert (status, b"<Code>XAmzContentSHA256Mismatch</Code>" in answer) == (400, True)
    assert signed_put(proxy, b"body", {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})[0] == 403


RECOMMENDED = {
    "refuses_unsigned": ("payload_signing: signed", "modes signed/crc32c"),
    "refuses_checksums": ("upload_checksum: md5", "modes unsigned/md5"),
    "requires_md5": ("upload_checksum: md5", "modes unsigned/md5"),
}


@pytest.mark.parametrize("profile", PROFILES, ids=[profile.name for profile in PROFILES])
def test_check_tries_the_modes_and_recommends_the_first_that_works(
    runner: FaultRunner, s3: Any, profile: Profile
) -> None:
    install(runner.proxy, profile)
    result = runner.run("check")
    setting, works = RECOMMENDED[profile.name]
    one_stderr_line(result, "a backup or a restore would fail", f"; set {setting} in the config")
    table = lines_by_label(result.stdout)
    assert table["store modes"][0] == "info" and profile.fix in table["store modes"][1]
    assert table[works][0] == "ok"
    assert table["recommended"] == ("info", f"set {setting} in the config")
    # the modes tried before the one that works were refused, each with its own reason
    tried = [label for label in table if label.startswith("modes ")]
    assert tried[-1] == works and all(table[label][0] == "refused" for label in tried[:-1])
    assert "clean-up" not in table
    assert listed(s3, runner.folder) == [] and runner.uploads(s3) == []


def test_check_says_the_configured_modes_are_accepted(runner: FaultRunner, s3: Any) -> None:
    install(runner.proxy, PROFILES[2])
    config = runner.make_config("md5.yaml", upload_checksum="md5")
    table = lines_by_label(ok_stdout(runner.run("check", config=config)))
    assert table["store modes"] == ("ok", "payload_signing: unsigned, upload_checksum: md5 accepted")
    assert not [label for label in table if label.startswith("modes ")]
    assert listed(s3, runner.folder) == []


def ok_stdout(result: subprocess.CompletedProcess[bytes]) -> bytes:
    ok(result)
    return result.stdout
