"""Every plugin verb, run as gpbackup runs it: the installed executable, one process per call, real S3."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AGENT_ONLY, BUCKET, EVERY_STORE, Plugin
from tests.s3server import SECRET_KEY, open_uploads

pytestmark = EVERY_STORE

MIB = 1024 * 1024
CHUNK = 5 * MIB  # the test config's chunk size


def ok(result: Any) -> bytes:
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b"", "a successful call must print nothing on stderr"
    return bytes(result.stdout)


def failed(result: Any) -> str:
    assert result.returncode != 0
    text = result.stderr.decode()
    assert text.endswith("\n") and text.count("\n") == 1, f"want exactly one stderr line, got {text!r}"
    return text


def test_api_version_and_version_words(plugin: Plugin) -> None:
    assert ok(plugin.run("plugin_api_version")) == b"0.5.0\n"
    words = ok(plugin.run("--version")).decode().split()
    assert len(words) == 3 and words[:2] == ["gpbackup_s3_plugin", "version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", words[2])


@pytest.mark.parametrize(
    ("scope", "content"),
    [("coordinator", '"-1"'), ("coordinator", "-1"), ("master", "-1"), ("segment_host", None), ("segment", '"0"')],
)
def test_setup_and_cleanup_every_scope(plugin: Plugin, s3: Any, scope: str, content: str | None) -> None:
    backup_dir = plugin.backup_dir()
    extra = [content] if content else []
    for verb in ("setup_plugin_for_backup", "setup_plugin_for_restore", "cleanup_plugin_for_backup",
                 "cleanup_plugin_for_restore"):  # fmt: skip
        ok(plugin.run(verb, str(backup_dir), scope, *extra))
    report = plugin.key(backup_dir / "gpbackup_20261126101500_report")
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=plugin.folder).get("Contents", [])
    if scope == "segment":
        assert listed == []
    else:
        assert [item["Key"] for item in listed] == [report]


def test_setup_for_backup_leaves_no_local_temp_file(plugin: Plugin, tmp_path: Path) -> None:
    before = set(os.listdir("/tmp"))
    ok(plugin.run("setup_plugin_for_backup", str(plugin.backup_dir()), "coordinator", "-1"))
    assert {name for name in set(os.listdir("/tmp")) - before if "report" in name} == set()


def test_setup_rejects_unknown_scope(plugin: Plugin) -> None:
    assert "unknown scope 'cluster'" in failed(plugin.run("setup_plugin_for_backup", "/x/backups/d/t", "cluster"))


def test_setup_for_restore_proves_the_bucket_is_readable(plugin: Plugin, config_factory: Callable[..., Path]) -> None:
    bad = config_factory(bucket="no-such-bucket")
    line = failed(plugin.run("setup_plugin_for_restore", "/x/backups/d/t", "coordinator", "-1", config=bad))
    assert "no-such-bucket" in line and "bucket does not exist" in line


def test_cleanup_never_fails_even_without_a_config(plugin: Plugin) -> None:
    missing = Path("/nonexistent/s3.yaml")
    ok(plugin.run("cleanup_plugin_for_backup", "/x/backups/d/t", "segment_host", config=missing))


def test_backup_file_keeps_the_file_and_restore_file_recreates_it(plugin: Plugin) -> None:
    path = plugin.backup_dir() / "gpbackup_20261126101500_metadata.sql"
    payload = os.urandom(CHUNK + 12345)  # multipart, with a short last part
    path.write_bytes(payload)
    ok(plugin.run("backup_file", str(path)))
    assert path.read_bytes() == payload
    path.unlink()
    ok(plugin.run("restore_file", str(path)))
    assert path.read_bytes() == payload
    assert sorted(os.listdir(path.parent)) == [path.name], "no temporary file may remain"


def test_restore_file_overwrites_an_existing_file(plugin: Plugin) -> None:
    path = plugin.backup_dir() / "gpbackup_20261126101500_toc.yaml"
    path.write_bytes(b"new contents\n")
    ok(plugin.run("backup_file", str(path)))
    path.write_bytes(b"stale and longer than the real contents\n")
    ok(plugin.run("restore_file", str(path)))
    assert path.read_bytes() == b"new contents\n"


def test_restore_file_of_a_missing_object_fails_fast_and_leaves_nothing(plugin: Plugin) -> None:
    directory = plugin.backup_dir()
    path = directory / "there_is_no_file_to_restore"
    started = time.monotonic()
    line = failed(plugin.run("restore_file", str(path)))
    assert time.monotonic() - started < 10
    assert "object not found" in line and plugin.key(path) in line
    assert os.listdir(directory) == []


def test_restore_data_of_a_missing_object_fails_fast(plugin: Plugin) -> None:
    started = time.monotonic()
    result = plugin.run("restore_data", str(plugin.backup_dir() / "gpbackup_0_20261126101500"))
    assert "object not found" in failed(result)
    assert result.stdout == b""
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 50 * MIB], ids=["0B", "1B", "chunk", "chunk+1", "50MiB"])
def test_backup_data_restore_data_round_trip(plugin: Plugin, s3: Any, size: int) -> None:
    payload = os.urandom(size)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload))
    head = s3.head_object(Bucket=BUCKET, Key=plugin.key(path))
    assert head["ContentLength"] == size
    assert ok(plugin.run("restore_data", path)) == payload
    assert open_uploads(s3, BUCKET, plugin.folder) == []


def test_restore_data_subset_streams_the_listed_ranges(plugin: Plugin, tmp_path: Path) -> None:
    payload = os.urandom(3 * CHUNK + 777)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    ok(plugin.run("backup_data", path, stdin=payload))
    offsets = tmp_path / "offsets"
    wanted = [(3, 10), (CHUNK - 5, 2 * CHUNK + 9), (len(payload) - 1, len(payload))]
    offsets.write_text(f"{len(wanted)} " + " ".join(f"{s} {e}" for s, e in wanted) + "\n")
    out = ok(plugin.run("restore_data_subset", path, str(offsets)))
    assert out == b"".join(payload[s:e] for s, e in wanted)
    offsets.write_text(f"1 0 {len(payload) + 1}\n")
    assert "offsets ask for" in failed(plugin.run("restore_data_subset", path, str(offsets)))


@AGENT_ONLY  # delete_backup in-process: tests/faults/test_s3_answers.py
def test_delete_backup_removes_one_backup_and_spares_its_sibling(plugin: Plugin, s3: Any) -> None:
    first, second = "20261126235959", "20261127000000"  # one second apart, different date directories
    for timestamp in (first, second):
        directory = plugin.backup_dir(timestamp)
        ok(plugin.run("setup_plugin_for_backup", str(directory), "coordinator", "-1"))
        ok(plugin.run("backup_data", str(directory / "testdata.txt"), stdin=timestamp.encode()))
        (directory / "testfile.txt").write_text("this is some text\n")
        ok(plugin.run("backup_file", str(directory / "testfile.txt")))
    ok(plugin.run("delete_backup", first))
    gone = plugin.backup_dir(first)
    assert "object not found" in failed(plugin.run("restore_data", str(gone / "testdata.txt")))
    (gone / "testfile.txt").unlink()
    failed(plugin.run("restore_file", str(gone / "testfile.txt")))
    assert ok(plugin.run("restore_data", str(plugin.backup_dir(second) / "testdata.txt"))) == second.encode()
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=plugin.folder)["Contents"]]
    assert len(keys) == 3 and all(second in key for key in keys)


def test_delete_backup_needs_a_14_digit_timestamp(plugin: Plugin) -> None:
    assert "14 digits" in failed(plugin.run("delete_backup", "2026112610"))


def test_list_and_delete_directory(plugin: Plugin) -> None:
    directory = plugin.backup_dir()
    ok(plugin.run("backup_data", str(directory / "a"), stdin=b"12345"))
    ok(plugin.run("backup_data", str(directory / "b"), stdin=b""))
    table = ok(plugin.run("list_directory")).decode().splitlines()
    assert table[0].split() == ["NAME", "SIZE(bytes)"]
    rows = {line.split()[0]: int(line.split()[1]) for line in table[1:]}
    assert rows == {plugin.key(directory / "a"): 5, plugin.key(directory / "b"): 0}
    ok(plugin.run("delete_directory", f"{plugin.folder}/backups"))
    assert ok(plugin.run("list_directory", plugin.folder)).decode().splitlines()[1:] == []


def test_backup_and_restore_directory(plugin: Plugin, tmp_path: Path) -> None:
    source = tmp_path / "dir"
    source.mkdir()
    files = {f"f{i}": os.urandom(i * 1000) for i in range(7)}
    for name, data in files.items():
        (source / name).write_bytes(data)
    ok(plugin.run("backup_directory_parallel", str(source), "3"))
    for name in files:
        (source / name).unlink()
    ok(plugin.run("restore_directory", str(source)))
    assert {p.name: p.read_bytes() for p in source.iterdir()} == files


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["unknown_command"], "unknown command 'unknown_command'"),
        ([], "unknown command ''"),
        (["backup_data", "cfg"], "wrong number of arguments"),
        (["restore_data", "cfg", "a", "b"], "wrong number of arguments"),
        (["plugin_api_version", "extra"], "unknown command"),
        (["setup_plugin_for_backup", "cfg", "dir"], "wrong number of arguments"),
        (["setup_plugin_for_backup", "cfg", "dir", "segment", "zero"], "content id must be an integer"),
    ],
)
def test_bad_command_lines_fail_with_a_usage_line(plugin: Plugin, args: list[str], needle: str) -> None:
    result = plugin.run(*args, raw=True) if args else plugin.run("", raw=True)
    assert needle in failed(result)
    assert result.returncode == 2


def test_bad_config_lists_every_problem_one_per_line(plugin: Plugin, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("executablepath: /x\noptions:\n  bucket: b\n  encryption: maybe\n  backup_multipart_chunksize: 1MB\n"
                   "  regoin: us-east-1\n")  # fmt: skip
    result = plugin.run("backup_data", str(plugin.backup_dir() / "f"), config=bad)
    lines = result.stderr.decode().splitlines()
    assert result.returncode != 0
    assert all(line.startswith(f"gpbackup_s3_plugin: {bad}: ") for line in lines)
    text = "\n".join(lines)
    for needle in ("folder must be set", "region or endpoint must be set", "encryption must be on or off",
                   "backup_multipart_chunksize is 1MB", "unknown option 'regoin' (did you mean region?)"):  # fmt: skip
        assert needle in text
    assert len(lines) == 5


def test_wrong_secret_is_denied_and_never_echoed(plugin: Plugin, config_factory: Callable[..., Path]) -> None:
    secret = "wrong-Secret-Value-0123456789"
    bad = config_factory(aws_secret_access_key=secret, max_attempts=1)
    result = plugin.run("backup_data", str(plugin.backup_dir() / "f"), stdin=b"x", config=bad)
    line = failed(result)
    assert "access denied" in line
    logs = "".join(p.read_text() for p in (plugin.home / "gpAdminLogs").glob("*.log"))
    for text in (line, logs):
        assert secret not in text and SECRET_KEY not in text


def test_log_lines_use_the_greenplum_format(plugin: Plugin) -> None:
    ok(plugin.run("backup_data", str(plugin.backup_dir() / "f"), stdin=b"abc"))
    (log_file,) = (plugin.home / "gpAdminLogs").glob("gpbackup_s3_plugin_*.log")
    assert re.fullmatch(r"gpbackup_s3_plugin_\d{8}\.log", log_file.name)
    lines = log_file.read_text().splitlines()
    (line,) = [line for line in lines if "-backup_data s3://" in line]
    pattern = r"\d{8}:\d\d:\d\d:\d\d gpbackup_s3_plugin:[^:]+:[^:]+:(\d{6})-\[INFO\]:-backup_data s3://\S+: 3 bytes in "
    match = re.match(pattern, line)
    assert match, line
    assert "MB/s" in line
    if plugin.mode == "agent":  # the agent logs the call under the pid gpbackup started, and says it served it
        (served,) = [line for line in lines if " served backup_data for pid " in line]
        assert re.search(
            rf":{match.group(1)}-\[INFO\]:-agent \d+ served backup_data for pid {int(match.group(1))} ", served
        )


def test_backups_record_a_whole_object_crc32c(plugin: Plugin, s3: Any) -> None:
    import base64

    import crc32c

    directory = plugin.backup_dir()
    small, large = os.urandom(1000), os.urandom(2 * CHUNK + 5)
    ok(plugin.run("backup_data", str(directory / "small"), stdin=small))
    ok(plugin.run("backup_data", str(directory / "large"), stdin=large))
    head = s3.head_object(Bucket=BUCKET, Key=plugin.key(directory / "small"))
    metadata = {name.lower(): value for name, value in head["Metadata"].items()}
    assert base64.b64decode(metadata["gps3async-crc32c"]) == crc32c.crc32c(small).to_bytes(4, "big")
    companion = s3.get_object(Bucket=BUCKET, Key=plugin.key(directory / "large") + ".gps3async-crc32c")
    recorded = dict(line.split("=", 1) for line in companion["Body"].read().decode().splitlines())
    assert base64.b64decode(recorded["gps3async-crc32c"]) == crc32c.crc32c(large).to_bytes(4, "big")
    assert recorded["gps3async-size"] == str(len(large))


def test_objects_written_without_gps3async_metadata_restore(plugin: Plugin, s3: Any) -> None:
    """What the Go plugin leaves behind: plain objects, single-part or multipart, no digest."""
    directory = plugin.backup_dir()
    single, multi = os.urandom(300_000), os.urandom(2 * CHUNK + 17)
    s3.put_object(Bucket=BUCKET, Key=plugin.key(directory / "single"), Body=single)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=plugin.key(directory / "multi"))
    parts = []
    for number, start in enumerate(range(0, len(multi), CHUNK), 1):
        answer = s3.upload_part(Bucket=BUCKET, Key=plugin.key(directory / "multi"), UploadId=upload["UploadId"],
                                PartNumber=number, Body=multi[start : start + CHUNK])  # fmt: skip
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=plugin.key(directory / "multi"), UploadId=upload["UploadId"],
                                 MultipartUpload={"Parts": parts})  # fmt: skip
    assert ok(plugin.run("restore_data", str(directory / "single"))) == single
    assert ok(plugin.run("restore_data", str(directory / "multi"))) == multi
    ok(plugin.run("restore_file", str(directory / "multi")))
    assert (directory / "multi").read_bytes() == multi


def test_stdin_in_one_byte_writes_round_trips(plugin: Plugin) -> None:
    """gpbackup's pipe may deliver any write size; 1-byte writes are the extreme."""
    import subprocess
    import threading

    payload = os.urandom(40_000)
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500_16384")
    proc = subprocess.Popen(plugin.argv("backup_data", path), stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=plugin.env())  # fmt: skip
    assert proc.stdin is not None and proc.stderr is not None

    def trickle() -> None:
        assert proc.stdin is not None
        with proc.stdin:
            for i in range(len(payload)):
                os.write(proc.stdin.fileno(), payload[i : i + 1])

    writer = threading.Thread(target=trickle)
    writer.start()
    writer.join(timeout=60)
    with proc.stderr:
        errors = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0 and errors == "", errors
    assert ok(plugin.run("restore_data", path)) == payload


def test_remove_duplicate_bucket_for_endpoints_that_name_the_bucket(
    plugin: Plugin, s3_server: Any, config_factory: Callable[..., Path]
) -> None:
    """With the bucket already in the endpoint URL, the plugin must not add it to the path again."""
    config = config_factory(endpoint=f"{s3_server.endpoint}/{BUCKET}", remove_duplicate_bucket="true")
    path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
    payload = os.urandom(CHUNK + 3)
    ok(plugin.run("backup_data", path, stdin=payload, config=config))
    assert ok(plugin.run("restore_data", path)) == payload  # the ordinary config finds it where it belongs
    assert ok(plugin.run("restore_data", path, config=config)) == payload


# A forward proxy for plain-HTTP endpoints: over TLS the plugin tunnels with CONNECT, which this
# reverse proxy does not speak (tests/http/test_tls_and_proxy.py covers CONNECT).
@pytest.mark.stores("rclone", "rgw")
def test_http_proxy_carries_every_request(plugin: Plugin, s3_server: Any, config_factory: Callable[..., Path]) -> None:
    """``http_proxy``: requests go to the proxy (which forwards them), not to the endpoint directly."""
    from tests.faults.proxy import FaultProxy

    with FaultProxy(s3_server.port) as proxy:
        config = config_factory(http_proxy=f"http://127.0.0.1:{proxy.port}")
        path = str(plugin.backup_dir() / "gpbackup_0_20261126101500")
        ok(plugin.run("backup_data", path, stdin=b"through the proxy", config=config))
        assert ok(plugin.run("restore_data", path, config=config)) == b"through the proxy"
        assert proxy.count("PUT") >= 1 and proxy.count("GET") >= 1
