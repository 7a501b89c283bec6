"""The S3 options, each seen on the wire (through a recording proxy) or in the server's behaviour:
server-side encryption, storage class, TLS verification, addressing style and log verbosity."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.test_verbs import CHUNK, failed, ok
from tests.conftest import AGENT_ONLY, BUCKET, write_config
from tests.faults.proxy import FaultProxy
from tests.s3server import self_signed_certificate, start_rclone

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.conftest import Plugin
    from tests.faults.proxy import Seen
    from tests.s3server import S3Server

SSE = "x-amz-server-side-encryption"
KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
CLASS = "x-amz-storage-class"
UPLOAD_PART = re.compile(r"[?&]partNumber=")


@pytest.fixture
def recorder(s3_server: S3Server) -> Iterator[FaultProxy]:
    """A proxy in front of the session server that records every request with its headers."""
    with FaultProxy(s3_server.port) as proxy:
        yield proxy


def requests_by_kind(seen: list[Seen], key: str) -> dict[str, list[Seen]]:
    """The requests about ``key`` and its digest companion, by S3 operation."""
    kinds: dict[str, list[Seen]] = {}
    for request in seen:
        path = request.target.split("?", 1)[0]
        if request.method == "PUT" and UPLOAD_PART.search(request.target):
            kind = "UploadPart"
        elif request.method == "POST" and request.target.endswith("?uploads"):
            kind = "CreateMultipartUpload"
        elif request.method == "POST" and "uploadId=" in request.target:
            kind = "CompleteMultipartUpload"
        elif request.method == "PUT" and path.endswith(".gps3async-crc32c"):
            kind = "PutDigest"
        elif request.method == "PUT":
            kind = "PutObject"
        else:
            continue
        if key in path:
            kinds.setdefault(kind, []).append(request)
    return kinds


@AGENT_ONLY  # the write options are set in the shared S3 layer
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"server_side_encryption": "AES256"}, {SSE: "AES256"}),
        ({"server_side_encryption": "aws:kms", "sse_kms_key_id": "alias/gpbackup"},
         {SSE: "aws:kms", KMS_KEY: "alias/gpbackup"}),
    ],
    ids=["AES256", "aws:kms"],
)  # fmt: skip
def test_server_side_encryption_on_every_new_object(
    plugin: Plugin, recorder: FaultProxy, config_factory: Callable[..., Path], options: dict[str, str],
    expected: dict[str, str],
) -> None:  # fmt: skip
    config = config_factory(endpoint=recorder.endpoint, **options)
    single, multi = plugin.backup_dir() / "single", plugin.backup_dir() / "multi"
    ok(plugin.run("backup_data", str(single), stdin=b"small", config=config))
    payload = os.urandom(2 * CHUNK + 1)
    ok(plugin.run("backup_data", str(multi), stdin=payload, config=config))
    assert ok(plugin.run("restore_data", str(multi), config=config)) == payload
    put = requests_by_kind(recorder.seen, plugin.key(single))
    multipart = requests_by_kind(recorder.seen, plugin.key(multi))
    assert set(multipart) == {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutDigest"}
    for request in [*put["PutObject"], *multipart["CreateMultipartUpload"], *multipart["PutDigest"]]:
        assert {name: request.header(name) for name in expected} == expected, request.target
    # S3 takes SSE-S3 and SSE-KMS on the request that creates the object only; parts inherit it.
    for request in [*multipart["UploadPart"], *multipart["CompleteMultipartUpload"]]:
        assert all(request.header(name) is None for name in expected), request.target


def test_storage_class_on_data_objects_but_not_on_the_digest(
    plugin: Plugin, recorder: FaultProxy, config_factory: Callable[..., Path], s3: Any
) -> None:
    config = config_factory(endpoint=recorder.endpoint, storage_class="STANDARD_IA")
    single, multi = plugin.backup_dir() / "single", plugin.backup_dir() / "multi"
    ok(plugin.run("backup_data", str(single), stdin=b"small", config=config))
    ok(plugin.run("backup_data", str(multi), stdin=os.urandom(CHUNK + 1), config=config))
    put = requests_by_kind(recorder.seen, plugin.key(single))
    multipart = requests_by_kind(recorder.seen, plugin.key(multi))
    assert [request.header(CLASS) for request in put["PutObject"]] == ["STANDARD_IA"]
    assert [request.header(CLASS) for request in multipart["CreateMultipartUpload"]] == ["STANDARD_IA"]
    assert [request.header(CLASS) for request in multipart["PutDigest"]] == [None]
    # and the server stored it so
    assert s3.head_object(Bucket=BUCKET, Key=plugin.key(single))["StorageClass"] == "STANDARD_IA"


def test_default_options_send_no_encryption_or_class_headers(
    plugin: Plugin, recorder: FaultProxy, config_factory: Callable[..., Path]
) -> None:
    config = config_factory(endpoint=recorder.endpoint)
    ok(plugin.run("backup_data", str(plugin.backup_dir() / "plain"), stdin=b"plain", config=config))
    puts = [seen for seen in recorder.seen if seen.method == "PUT"]
    assert puts and all(seen.header(SSE) is None and seen.header(CLASS) is None for seen in puts)
    # path-style addressing, like the Go plugin: the bucket is the first path component
    assert all(seen.target.startswith(f"/{BUCKET}/") for seen in puts)
    assert all(seen.header("Host") == f"127.0.0.1:{recorder.port}" for seen in puts)


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, Path]]:
    """``rclone serve s3`` over HTTPS with a self-signed certificate; yields the server and the certificate."""
    root = tmp_path_factory.mktemp("tls")
    cert, key = self_signed_certificate(root)
    (root / "s3" / BUCKET).mkdir(parents=True)  # the bucket: a directory of the served root
    server = start_rclone(root / "s3", tls=(cert, key))
    try:
        yield server, cert
    finally:
        server.stop()


def tls_config(plugin: Plugin, tmp_path: Path, server: S3Server, name: str, **options: object) -> Path:
    options = {**plugin.mode_options(), **options}
    return write_config(tmp_path / name, server.endpoint, plugin.folder, encryption="on", **options)


def test_ca_cert_verifies_a_private_certificate(
    plugin: Plugin, tmp_path: Path, tls_server: tuple[S3Server, Path]
) -> None:
    server, cert = tls_server
    path = str(plugin.backup_dir() / "over-tls")
    trusted = tls_config(plugin, tmp_path, server, "trusted.yaml", ca_cert=str(cert))
    ok(plugin.run("backup_data", path, stdin=b"encrypted in transit", config=trusted))
    assert ok(plugin.run("restore_data", path, config=trusted)) == b"encrypted in transit"
    untrusted = tls_config(plugin, tmp_path, server, "untrusted.yaml", max_attempts=1)
    assert "certificate verify failed" in failed(plugin.run("restore_data", path, config=untrusted)).lower()
    unverified = tls_config(plugin, tmp_path, server, "unverified.yaml", tls_verify="false")
    assert ok(plugin.run("restore_data", path, config=unverified)) == b"encrypted in transit"
    missing = tls_config(plugin, tmp_path, server, "missing.yaml", ca_cert=str(tmp_path / "nope.pem"))
    line = failed(plugin.run("restore_data", path, config=missing))
    assert f"ca_cert {tmp_path / 'nope.pem'}: cannot read the CA bundle" in line


# --------------------------------------------------------------------------- addressing style


def test_virtual_hosted_addressing(plugin: Plugin, tmp_path: Path) -> None:
    """The bucket moves into the host name.  A server that reads it from there (rclone without path
    style) is reached through ``http_proxy``, the recorder, so no name has to resolve."""
    server = start_rclone(tmp_path / "virtual", extra=("--force-path-style=false",))
    try:
        (server.root / BUCKET).mkdir()
        with FaultProxy(server.port) as proxy:
            config = write_config(tmp_path / "virtual.yaml", f"http://localhost:{server.port}", plugin.folder,
                                  addressing_style="virtual", http_proxy=proxy.endpoint,
                                  **plugin.mode_options())  # fmt: skip
            path = plugin.backup_dir() / "virtual"
            payload = os.urandom(CHUNK + 10)
            ok(plugin.run("backup_data", str(path), stdin=payload, config=config))
            assert ok(plugin.run("restore_data", str(path), config=config)) == payload
            seen = proxy.seen
        assert seen and all(request.header("Host") == f"{BUCKET}.localhost:{server.port}" for request in seen)
        key_url = f"http://{BUCKET}.localhost:{server.port}/{plugin.key(path)}"
        assert any(request.target.startswith(key_url) for request in seen)
        assert (server.root / BUCKET / plugin.key(path)).read_bytes() == payload
    finally:
        server.stop()


# --------------------------------------------------------------------------- logger_verbosity


@pytest.mark.parametrize(
    ("verbosity", "summary", "settings", "requests"),
    [
        ("error", False, False, False),
        ("info", True, False, False),
        ("verbose", True, True, False),
        ("debug", True, True, True),
    ],
)
def test_logger_verbosity_sets_what_the_log_holds(
    plugin: Plugin, config_factory: Callable[..., Path], verbosity: str, summary: bool, settings: bool,
    requests: bool,
) -> None:  # fmt: skip
    config = config_factory(logger_verbosity=verbosity)
    path = str(plugin.backup_dir() / "logged")
    ok(plugin.run("backup_data", path, stdin=b"abc", config=config))
    failed(plugin.run("restore_data", path + "-missing", config=config))
    logs = list((plugin.home / "gpAdminLogs").glob("*.log"))
    text = "".join(log.read_text() for log in logs)
    assert ("backup_data s3://" in text) is summary
    assert ("S3 endpoint http://" in text) is settings
    assert bool(re.search(r"request (PUT|GET) http://", text)) is requests
    assert "[ERROR]:-GetObject" in text  # errors are logged at every verbosity
    assert ("[DEBUG]" in text) is requests
