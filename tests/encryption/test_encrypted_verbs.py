"""Client-side encryption through the installed plugin, against the real test S3 server.

Every test runs through the agent and in-process (the ``plugin`` fixture).
Tampering is done to the stored object with boto3, as someone holding the
bucket could; a tampered object is re-written without the plugin's digest
metadata, so the encryption layer alone has to notice.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gps3async.core.encryption.format import HEADER_SIZE, MAGIC, SEGMENT_SIZE, TAG_SIZE, Layout
from tests.cli.test_verbs import failed, ok
from tests.conftest import BUCKET, Plugin
from tests.s3server import open_uploads

MIB = 1024 * 1024
CHUNK = 5 * MIB  # the test config's part size
S = SEGMENT_SIZE
STRIDE = S + TAG_SIZE
LAYOUT = Layout(S)
#: A plaintext size whose stored object is exactly one 5 MiB part.
ONE_PART = next(p for p in range(4 * S, 5 * S) if LAYOUT.stored_size(p) == CHUNK)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Three fresh keys in the environment the plugin runs in: CURRENT, OTHER and OLD."""
    found = {name: os.urandom(32).hex() for name in ("GPS3_TEST_KEY", "GPS3_OTHER_KEY", "GPS3_OLD_KEY")}
    for name, value in found.items():
        monkeypatch.setenv(name, value)
    return found


@pytest.fixture
def encrypted(config_factory: Callable[..., Path], keys: dict[str, str]) -> Path:
    return config_factory("encrypted.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_TEST_KEY}")


def data_path(plugin: Plugin, name: str = "gpbackup_0_20261126101500") -> str:
    return str(plugin.backup_dir() / name)


def stored(s3: Any, key: str) -> bytes:
    return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def replace(s3: Any, key: str, body: bytes) -> None:
    """Put ``body`` where the object was, with none of the plugin's digests (so only the tags can object)."""
    s3.delete_object(Bucket=BUCKET, Key=key + ".gps3async-crc32c")
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)


SIZES = [0, 1, S - 1, S, S + 1, 3 * S, ONE_PART - 1, ONE_PART, ONE_PART + 1, CHUNK + 1, 2 * CHUNK + 3 * S]


@pytest.mark.agent_only  # the format at many sizes and tamperings, not the front door
@pytest.mark.parametrize("size", SIZES, ids=[str(size) for size in SIZES])
def test_round_trip_at_segment_and_part_boundaries(plugin: Plugin, s3: Any, encrypted: Path, size: int) -> None:
    payload = os.urandom(size)
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=payload, config=encrypted))
    body = stored(s3, plugin.key(path))
    assert len(body) == LAYOUT.stored_size(size)
    assert body.startswith(MAGIC)
    if size >= 64:
        assert payload[:64] not in body and payload[-64:] not in body
    assert ok(plugin.run("restore_data", path, config=encrypted)) == payload
    assert open_uploads(s3, BUCKET, plugin.folder) == []


def _offsets(tmp_path: Path, wanted: list[tuple[int, int]]) -> str:
    offsets = tmp_path / "offsets"
    offsets.write_text(f"{len(wanted)} " + " ".join(f"{s} {e}" for s, e in wanted) + "\n")
    return str(offsets)


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_restore_data_subset_of_an_encrypted_object(plugin: Plugin, encrypted: Path, tmp_path: Path) -> None:
    payload = os.urandom(6 * S + 4321)  # multipart; the last segment is short
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=payload, config=encrypted))
    size = len(payload)
    cases = [
        [(0, 0)],
        [(3, 10)],
        [(S - 5, S + 5)],  # across a segment boundary
        [(S, 2 * S)],  # exactly one segment
        [(10, 20), (20, 30), (S - 1, S)],  # touching, then sharing a segment
        [(5 * S, 5 * S + 7), (100, 200)],  # out of order
        [(0, size)],
        [(size - 1, size)],  # inside the short last segment
        [(2 * S + 1, 4 * S + 9), (6 * S, size)],
        [(i * 1000, i * 1000 + 17) for i in range(0, size // 1000, 37)],  # many small tables
    ]
    for wanted in cases:
        out = ok(plugin.run("restore_data_subset", path, _offsets(tmp_path, wanted), config=encrypted))
        assert out == b"".join(payload[s:e] for s, e in wanted), wanted
    line = failed(plugin.run("restore_data_subset", path, _offsets(tmp_path, [(0, size + 1)]), config=encrypted))
    assert "offsets ask for" in line and str(size) in line


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_wrong_missing_and_rotated_keys(
    plugin: Plugin, config_factory: Callable[..., Path], encrypted: Path, keys: dict[str, str], tmp_path: Path
) -> None:
    payload = os.urandom(2 * S + 5)
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=payload, config=encrypted))
    offsets = _offsets(tmp_path, [(1, 9)])

    other = config_factory("other.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_OTHER_KEY}")
    for verb, extra in (("restore_data", []), ("restore_data_subset", [offsets])):
        result = plugin.run(verb, path, *extra, config=other)
        assert "was encrypted with another key" in failed(result)
        assert result.stdout == b""

        result = plugin.run(verb, path, *extra)  # the plain config: no key at all
        assert "is encrypted" in failed(result) and "sets no client_side_encryption key" in failed(result)
        assert result.stdout == b"", "ciphertext must never reach stdout"

    rotated = config_factory(
        "rotated.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_OTHER_KEY}",
        encryption_previous_keys="${GPS3_OLD_KEY}, ${GPS3_TEST_KEY}",
    )  # fmt: skip
    assert ok(plugin.run("restore_data", path, config=rotated)) == payload
    assert ok(plugin.run("restore_data_subset", path, offsets, config=rotated)) == payload[1:9]
    fresh = data_path(plugin, "gpbackup_1_20261126101500")
    ok(plugin.run("backup_data", fresh, stdin=payload, config=rotated))
    assert "was encrypted with another key" in failed(plugin.run("restore_data", fresh, config=encrypted))
    assert ok(plugin.run("restore_data", fresh, config=other)) == payload


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_unencrypted_backups_restore_with_encryption_configured(
    plugin: Plugin, encrypted: Path, tmp_path: Path
) -> None:
    payload = os.urandom(CHUNK + 3)
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=payload))  # plain, as before (and as the Go plugin writes)
    assert ok(plugin.run("restore_data", path, config=encrypted)) == payload
    offsets = _offsets(tmp_path, [(7, 70), (CHUNK - 1, CHUNK + 2)])
    assert ok(plugin.run("restore_data_subset", path, offsets, config=encrypted)) == payload[7:70] + payload[-4:-1]
    tiny = data_path(plugin, "gpbackup_1_20261126101500")
    ok(plugin.run("backup_data", tiny, stdin=b"GPS"))  # a prefix of the magic, and shorter than a header
    assert ok(plugin.run("restore_data", tiny, config=encrypted)) == b"GPS"


def _tampered(name: str, body: bytes, other: bytes) -> bytes:
    """``body`` (four segments and a short fifth) altered as ``name`` says."""
    seg = [HEADER_SIZE + i * STRIDE for i in range(6)]
    if name == "flipped-bit":
        return body[: seg[2] + 100] + bytes([body[seg[2] + 100] ^ 1]) + body[seg[2] + 101 :]
    if name == "truncated-mid-segment":
        return body[: seg[2] + 500]
    if name == "truncated-at-segment":
        return body[: seg[4]]
    if name == "swapped-segments":
        return body[: seg[2]] + body[seg[3] : seg[4]] + body[seg[2] : seg[3]] + body[seg[4] :]
    if name == "segment-from-another-object":
        return body[: seg[2]] + other[seg[2] : seg[3]] + body[seg[3] :]
    if name == "last-segment-dropped-flag":
        return body[: seg[4]] + body[seg[3] : seg[4]]
    raise AssertionError(name)


TAMPERING = [
    "flipped-bit", "truncated-mid-segment", "truncated-at-segment", "swapped-segments",
    "segment-from-another-object", "last-segment-dropped-flag",
]  # fmt: skip


@pytest.mark.agent_only  # the format at many sizes and tamperings, not the front door
@pytest.mark.parametrize("how", TAMPERING)
def test_tampering_fails_before_the_bad_segment_is_written(
    plugin: Plugin, s3: Any, encrypted: Path, tmp_path: Path, how: str
) -> None:
    payload = os.urandom(4 * S + 999)
    path, neighbour = data_path(plugin), data_path(plugin, "gpbackup_1_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload, config=encrypted))
    ok(plugin.run("backup_data", neighbour, stdin=payload, config=encrypted))  # same plaintext, another object
    body = stored(s3, plugin.key(path))
    replace(s3, plugin.key(path), _tampered(how, body, stored(s3, plugin.key(neighbour))))
    result = plugin.run("restore_data", path, config=encrypted)
    line = failed(result)
    assert "failed authentication" in line or "truncated" in line, line
    good = {"flipped-bit": 2, "truncated-mid-segment": 2, "truncated-at-segment": 4, "swapped-segments": 2,
            "segment-from-another-object": 2, "last-segment-dropped-flag": 4}[how]  # fmt: skip
    written = len(result.stdout)  # segments are opened in batches: a failed batch writes none of its segments
    assert written % S == 0 and written <= good * S and result.stdout == payload[:written], (
        "only authenticated segments before the bad one may be written"
    )
    if how in ("flipped-bit", "swapped-segments", "segment-from-another-object"):
        result = plugin.run("restore_data_subset", path, _offsets(tmp_path, [(3, 9), (2 * S + 5, 2 * S + 6)]),
                            config=encrypted)  # fmt: skip
        assert "failed authentication" in failed(result)
        assert result.stdout in (b"", payload[3:9])


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_a_changed_header_or_name_fails_at_once(plugin: Plugin, s3: Any, encrypted: Path) -> None:
    payload = os.urandom(S + 10)
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=payload, config=encrypted))
    body = stored(s3, plugin.key(path))
    salt_bit = body[:40] + bytes([body[40] ^ 0x80]) + body[41:]
    replace(s3, plugin.key(path), salt_bit)
    result = plugin.run("restore_data", path, config=encrypted)
    assert "segment 0 failed authentication" in failed(result) and result.stdout == b""
    fingerprint_bit = body[:20] + bytes([body[20] ^ 1]) + body[21:]
    replace(s3, plugin.key(path), fingerprint_bit)
    result = plugin.run("restore_data", path, config=encrypted)
    assert "another key" in failed(result) and result.stdout == b""
    moved = data_path(plugin, "gpbackup_9_20261126101500")  # the object copied under another table's name
    s3.put_object(Bucket=BUCKET, Key=plugin.key(moved), Body=body)
    result = plugin.run("restore_data", moved, config=encrypted)
    assert "failed authentication" in failed(result) and result.stdout == b""


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_metadata_files_through_backup_file_and_restore_file(
    plugin: Plugin, s3: Any, encrypted: Path, config_factory: Callable[..., Path]
) -> None:
    directory = plugin.backup_dir()
    for name, payload in (
        ("gpbackup_20261126101500_metadata.sql", b"CREATE TABLE secret_payroll (salary int);\n" * 3000),
        ("gpbackup_20261126101500_toc.yaml", b"statements: []\n"),
        ("gpbackup_20261126101500_config.yaml", b""),
        ("gpbackup_20261126101500_report", os.urandom(CHUNK + 12345)),
    ):
        path = directory / name
        path.write_bytes(payload)
        ok(plugin.run("backup_file", str(path), config=encrypted))
        body = stored(s3, plugin.key(path))
        assert body.startswith(MAGIC) and (not payload or payload[:40] not in body)
        path.unlink()
        ok(plugin.run("restore_file", str(path), config=encrypted))
        assert path.read_bytes() == payload
        path.unlink()
        other = config_factory("other.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_OTHER_KEY}")
        assert "another key" in failed(plugin.run("restore_file", str(path), config=other))
        assert os.listdir(directory) == [], "a failed restore_file leaves no file and no temporary"


def test_setup_writes_an_encrypted_report_placeholder(plugin: Plugin, s3: Any, encrypted: Path) -> None:
    directory = plugin.backup_dir()
    ok(plugin.run("setup_plugin_for_backup", str(directory), "coordinator", "-1", config=encrypted))
    report = directory / "gpbackup_20261126101500_report"
    assert stored(s3, plugin.key(report))[: len(MAGIC)] == MAGIC
    ok(plugin.run("restore_file", str(report), config=encrypted))
    assert report.read_bytes() == b""


def test_the_key_never_reaches_the_bucket_or_the_logs(
    plugin: Plugin, s3: Any, keys: dict[str, str], config_factory: Callable[..., Path], tmp_path: Path
) -> None:
    config = config_factory(
        "debug.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_TEST_KEY}",
        encryption_previous_keys="${GPS3_OLD_KEY}", logger_verbosity="debug",
    )  # fmt: skip
    other = config_factory("other.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_OTHER_KEY}")
    directory = plugin.backup_dir()
    copy = directory / "gpbackup_20261126101500_plugin_config.yaml"
    copy.write_bytes(config.read_bytes())  # gpbackup uploads the config itself
    ok(plugin.run("backup_file", str(copy), config=config))
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=os.urandom(2 * S), config=config))
    ok(plugin.run("restore_data", path, config=config))
    outputs = [failed(plugin.run("restore_data", path, config=other))]
    outputs.append(failed(plugin.run("restore_data", path)))
    secrets = [bytes.fromhex(value) for value in keys.values()]
    needles = [
        *secrets,
        *(value.encode() for value in keys.values()),
        *(value.upper().encode() for value in keys.values()),
    ]
    # Every object this test's calls wrote (the folder is the test's own; other tests of this worker write
    # elsewhere in the bucket and may be removing theirs while this one reads).
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{plugin.folder}/").get("Contents", [])
    assert listed
    haystacks = [stored(s3, item["Key"]) for item in listed]
    haystacks += [path.read_bytes() for path in (plugin.home / "gpAdminLogs").glob("*")]
    haystacks += [line.encode() for line in outputs]
    assert len(haystacks) > len(listed)
    for haystack in haystacks:
        for needle in needles:
            assert needle not in haystack


def test_key_options_are_checked(
    plugin: Plugin, config_factory: Callable[..., Path], keys: dict[str, str], tmp_path: Path
) -> None:
    path = data_path(plugin)
    literal = config_factory("literal.yaml", client_side_encryption="aes-256-gcm", encryption_key=keys["GPS3_TEST_KEY"])
    line = failed(plugin.run("backup_data", path, stdin=b"x", config=literal))
    assert "encryption_key must be a ${NAME} reference" in line and keys["GPS3_TEST_KEY"] not in line
    key_file = tmp_path / "backup.key"
    key_file.write_text(keys["GPS3_TEST_KEY"] + "\n")
    key_file.chmod(0o640)
    by_file = config_factory("file.yaml", client_side_encryption="aes-256-gcm", encryption_key_file=str(key_file))
    line = failed(plugin.run("backup_data", path, stdin=b"x", config=by_file))
    assert "has mode 0640" in line and "owner only" in line and keys["GPS3_TEST_KEY"] not in line
    key_file.chmod(0o600)
    ok(plugin.run("backup_data", path, stdin=b"secret", config=by_file))
    assert ok(plugin.run("restore_data", path, config=by_file)) == b"secret"
    key_file.write_text(keys["GPS3_OTHER_KEY"] + "\n")  # replaced while the agent lives: the next call sees it
    assert "another key" in failed(plugin.run("restore_data", path, config=by_file))
    unset = config_factory("unset.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_NO_SUCH_KEY}")
    assert "GPS3_NO_SUCH_KEY" in failed(plugin.run("backup_data", path, stdin=b"x", config=unset))


@pytest.mark.agent_only  # the format, not the door; the key's absence from logs and errors runs both ways
def test_backup_and_restore_directory_encrypted_and_listed_at_stored_size(
    plugin: Plugin, s3: Any, encrypted: Path, tmp_path: Path
) -> None:
    source = tmp_path / "dir"
    source.mkdir()
    files = {f"f{i}": os.urandom(i * 300_000) for i in range(5)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    ok(plugin.run("backup_directory_parallel", str(source), "3", config=encrypted))
    for name, data in files.items():
        body = stored(s3, str(source / name).lstrip("/"))
        assert body.startswith(MAGIC) and len(body) == LAYOUT.stored_size(len(data))
        (source / name).unlink()
    ok(plugin.run("restore_directory", str(source), config=encrypted))
    assert {p.name: p.read_bytes() for p in source.iterdir()} == files
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": str(source / name).lstrip("/")} for name in files]})
    path = data_path(plugin)
    ok(plugin.run("backup_data", path, stdin=b"12345", config=encrypted))
    table = ok(plugin.run("list_directory", config=encrypted)).decode().splitlines()
    assert {line.split()[0]: int(line.split()[1]) for line in table[1:]} == {plugin.key(path): 64 + 5 + 16}
