"""Block digests on a real S3 server: what backups record, and restores that write only verified blocks."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crc32c
import pytest

from gps3async.core.integrity.checksums import expected_digest
from tests.cli.test_verbs import failed, ok
from tests.conftest import AGENT_ONLY, BUCKET, EVERY_STORE, Plugin
from tests.s3server import S3Server, make_client, start_rclone

pytestmark = EVERY_STORE

MIB = 1024 * 1024
PART = 5 * MIB + MIB // 2  # 5.5 MiB parts: every other part starts in the middle of a block
SUFFIX = ".gps3async-crc32c"


def _block_crcs(data: bytes) -> list[int]:
    return [crc32c.crc32c(data[start : start + MIB]) for start in range(0, len(data), MIB)]


def _decoded(text: str) -> list[int]:
    raw = base64.b64decode(text)
    return [int.from_bytes(raw[i : i + 4], "big") for i in range(0, len(raw), 4)]


def _record(s3: Any, key: str) -> dict[str, str]:
    """The object's record as an earlier release parses it: metadata, else the companion split at the first '='."""
    metadata = {name.lower(): value for name, value in s3.head_object(Bucket=BUCKET, Key=key)["Metadata"].items()}
    if "gps3async-crc32c" in metadata:
        return metadata
    body = s3.get_object(Bucket=BUCKET, Key=key + SUFFIX)["Body"].read()
    return dict(line.partition("=")[::2] for line in body.decode("ascii", "replace").splitlines())


@pytest.fixture
def parts_of_5_5_mib(plugin: Plugin, config_factory: Callable[..., Path]) -> Path:
    return config_factory("parts.yaml", backup_multipart_chunksize="5632KB", restore_multipart_chunksize="3MB")


#: The block maths at every boundary runs in the core both front doors share: the in-process door takes
#: the empty stream, one PutObject and a multipart upload; the agent takes every size.
@pytest.mark.parametrize(
    "size",
    [
        pytest.param(0, id="0"),
        pytest.param(1, id="1", marks=AGENT_ONLY),
        pytest.param(MIB - 1, id="MiB-1", marks=AGENT_ONLY),
        pytest.param(MIB, id="MiB", marks=AGENT_ONLY),
        pytest.param(MIB + 1, id="MiB+1"),
        pytest.param(PART - 1, id="part-1", marks=AGENT_ONLY),
        pytest.param(PART, id="part", marks=AGENT_ONLY),
        pytest.param(PART + 1, id="part+1", marks=AGENT_ONLY),
        pytest.param(2 * PART, id="2parts", marks=AGENT_ONLY),
        pytest.param(3 * PART + MIB // 3, id="3parts+"),
    ],
)
def test_backups_record_block_crcs_that_restores_check(
    plugin: Plugin, s3: Any, parts_of_5_5_mib: Path, size: int
) -> None:
    payload = os.urandom(size)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload, config=parts_of_5_5_mib))
    record = _record(s3, plugin.key(path))
    assert record["gps3async-block-size"] == str(MIB)
    assert _decoded(record["gps3async-block-crc32c"]) == _block_crcs(payload)
    assert expected_digest(record) == (crc32c.crc32c(payload), size), "earlier releases still read the record"
    assert ok(plugin.run("restore_data", path, config=parts_of_5_5_mib)) == payload
    log = (plugin.home / "gpAdminLogs").glob("*.log")
    text = "".join(file.read_text() for file in log)
    assert f"checked block by block ({len(_block_crcs(payload))} blocks of {MIB} bytes) and whole" in text


def _corrupt(s3: Any, key: str, data: bytes, offset: int) -> bytes:
    """Overwrite the object with one byte changed, keeping its record (metadata or companion) as it was."""
    spoiled = bytearray(data)
    spoiled[offset] ^= 0xFF
    metadata = s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(spoiled), Metadata=metadata)
    return bytes(spoiled)


@pytest.mark.parametrize(
    ("size", "offset"),
    [
        pytest.param(3 * MIB + 5, 2 * MIB + 7, id="put-3rd-block"),
        pytest.param(2 * PART + 3, PART + MIB // 2, id="multipart-straddling-block"),
        pytest.param(2 * PART + 3, 0, id="multipart-first-byte", marks=AGENT_ONLY),
        pytest.param(2 * PART + 3, 2 * PART + 2, id="multipart-last-byte", marks=AGENT_ONLY),
    ],
)
def test_a_corrupted_block_fails_before_any_of_its_bytes_reach_stdout(
    plugin: Plugin, s3: Any, parts_of_5_5_mib: Path, size: int, offset: int
) -> None:
    payload = os.urandom(size)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload, config=parts_of_5_5_mib))  # under 5.5 MiB: one PutObject
    key = plugin.key(path)
    _corrupt(s3, key, payload, offset)
    result = plugin.run("restore_data", path, config=parts_of_5_5_mib)
    block = offset // MIB
    start, end = block * MIB, min(block * MIB + MIB, size) - 1
    line = failed(result)
    assert key in line and f"block {block} (bytes {start}-{end}) does not match the backup's CRC-32C" in line
    expected = base64.b64encode(crc32c.crc32c(payload[start : end + 1]).to_bytes(4, "big")).decode()
    assert f"expected CRC-32C {expected}, seen " in line
    assert result.stdout == payload[:start], "exactly the verified blocks before the bad one"
    # restore_data_subset checks every block it reads: the wanted bytes of verified blocks, then the failure
    offsets = Path(plugin.workdir) / "offsets"
    offsets.parent.mkdir(parents=True, exist_ok=True)
    wanted = [(1, 2), (max(offset - 10, 0), min(offset + 10, size))]
    offsets.write_text(f"{len(wanted)} " + " ".join(f"{s} {e}" for s, e in wanted) + "\n")
    subset = plugin.run("restore_data_subset", path, str(offsets), config=parts_of_5_5_mib)
    assert f"block {block} (bytes {start}-{end})" in failed(subset)
    assert subset.stdout == b"".join(payload[s : min(e, start)] for s, e in wanted if s < start)


def test_a_subset_restore_reads_whole_blocks_and_returns_only_what_was_asked(
    plugin: Plugin, parts_of_5_5_mib: Path, tmp_path: Path
) -> None:
    payload = os.urandom(3 * PART + 77)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload, config=parts_of_5_5_mib))
    offsets = tmp_path / "offsets"
    wanted = [(3, 10), (PART - 5, 2 * PART + 9), (len(payload) - 1, len(payload)), (MIB + 1, MIB + 2)]
    offsets.write_text(f"{len(wanted)} " + " ".join(f"{s} {e}" for s, e in wanted) + "\n")
    out = ok(plugin.run("restore_data_subset", path, str(offsets), config=parts_of_5_5_mib))
    assert out == b"".join(payload[s:e] for s, e in wanted)


def _go_multipart(s3: Any, key: str, data: bytes, part: int) -> None:
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    parts = []
    for number, start in enumerate(range(0, len(data), part), 1):
        answer = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], PartNumber=number,
                                Body=data[start : start + part])  # fmt: skip
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})


def test_go_plugin_objects_are_checked_against_their_etags(plugin: Plugin, s3: Any, s3_server: S3Server) -> None:
    directory = plugin.backup_dir()
    single, multi = os.urandom(300_000), os.urandom(2 * 5 * MIB + 17)
    s3.put_object(Bucket=BUCKET, Key=plugin.key(directory / "single"), Body=single)
    _go_multipart(s3, plugin.key(directory / "multi"), multi, 5 * MIB)
    assert ok(plugin.run("restore_data", str(directory / "single"))) == single
    assert ok(plugin.run("restore_data", str(directory / "multi"))) == multi
    text = "".join(file.read_text() for file in (plugin.home / "gpAdminLogs").glob("*.log"))
    if s3_server.store == "rclone":  # a multipart ETag that is the MD5 of the whole, or HEAD ?partNumber= answered
        assert text.count("at the end (no digests of ours: a Go plugin backup)") == 2
    else:  # Ceph RGW 16 ignores partNumber: the part sizes of the "<md5>-3" ETag cannot be known
        assert text.count("at the end (no digests of ours: a Go plugin backup)") == 1
        assert "the sizes of the 3 parts its ETag covers are unknown" in text
    # The server's ETag of the multipart object is the MD5 of the whole (rclone) or of the part MD5s (S3, RGW):
    etag = s3.head_object(Bucket=BUCKET, Key=plugin.key(directory / "multi"))["ETag"].strip('"')
    assert etag == hashlib.md5(multi).hexdigest() or etag.endswith("-3")


def test_etags_that_are_not_md5s_are_not_checked(
    plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    """rclone without hashing gives ETags that are no MD5 (as SSE-KMS objects have): restored, not checked."""
    server = start_rclone(tmp_path / "nohash", extra=("--etag-hash", ""))
    try:
        s3 = make_client(server.endpoint)
        s3.create_bucket(Bucket=BUCKET)
        data = os.urandom(7 * MIB + 3)
        key = plugin.key(plugin.backup_dir() / "go")
        _go_multipart(s3, key, data, 5 * MIB)
        etag = s3.head_object(Bucket=BUCKET, Key=key).get("ETag", "")
        config = config_factory("nohash.yaml", endpoint=server.endpoint)
        assert ok(plugin.run("restore_data", str(plugin.backup_dir() / "go"), config=config)) == data
        text = "".join(file.read_text() for file in (plugin.home / "gpAdminLogs").glob("*.log"))
        assert "not checked: no digests recorded, and its ETag" in text, etag
    finally:
        server.stop()
