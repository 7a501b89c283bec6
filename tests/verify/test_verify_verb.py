"""``verify CONFIG TIMESTAMP [--deep]`` against backup sets in a real S3 server, through the agent and in-process.

Backup sets are written the gpbackup way by :mod:`tests.gpbackup_harness`
(realistic config and TOC files), the Go plugin's way with boto3 (no
metadata, no companions), or object by object with boto3 where a test needs
hundreds of objects; then damaged in the bucket and verified.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import crc32c
import pytest
import yaml

from gps3async.core.integrity.checksums import digest_fields
from tests.conftest import BUCKET, Plugin
from tests.gpbackup_harness import Backup, Cluster, backup_config, coordinator_toc

#: The verify logic does not depend on the transport: rclone and RGW over HTTP (TLS to RGW is
#: covered by the round-trip, store-mode, integrity and fault tests).
pytestmark = pytest.mark.stores("rclone", "rgw")

MIB = 1024 * 1024
TIMESTAMP = "20261203101500"
#: Table oids; 16393 is larger than one 5 MiB part on segment 1, so its object there is a multipart upload.
OIDS = (16384, 16390, 16393)


def rows(rng: random.Random, content: int, oid: int) -> bytes:
    count = 90_000 if (oid, content) == (16393, 1) else rng.randrange(50, 2000)
    return b"".join(b"%d,%d,%s\n" % (oid, n, rng.randbytes(24).hex().encode()) for n in range(count))


@pytest.fixture
def cluster(plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path]) -> Iterator[Cluster]:
    made = Cluster(tmp_path / "cluster", config_factory("s3_config.yaml"), plugin.env())
    try:
        yield made
    finally:
        made.remove_config_copies()


def harness_backup(cluster: Cluster, *, single_data_file: bool) -> Backup:
    rng = random.Random(7)
    tables = {content: {oid: rows(rng, content, oid) for oid in OIDS} for content in cluster.contents}
    return cluster.backup(tables, single_data_file=single_data_file, timestamp=TIMESTAMP)


def prefix(plugin: Plugin, timestamp: str = TIMESTAMP) -> str:
    return f"{plugin.folder}/backups/{timestamp[:8]}/{timestamp}/"


def verify(plugin: Plugin, *args: str, config: Path | None = None) -> tuple[int, list[str], str]:
    result = plugin.run("verify", TIMESTAMP, *args, config=config)
    return result.returncode, result.stdout.decode().splitlines(), result.stderr.decode()


def summary_counts(line: str) -> dict[str, int]:
    found = re.search(r": (\d+) objects, (\d+) bytes; (\d+) checked, (\d+) unchecked, (\d+) problems?;", line)
    assert found, line
    return dict(zip(("objects", "bytes", "checked", "unchecked", "problems"), map(int, found.groups())))


def log_of(plugin: Plugin) -> str:
    return "".join(path.read_text() for path in (plugin.home / "gpAdminLogs").glob("*.log"))


def data_objects(s3: Any, plugin: Plugin) -> dict[str, int]:
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix(plugin)).get("Contents", [])
    return {item["Key"]: item["Size"] for item in listed if not item["Key"].endswith(".gps3async-crc32c")}


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
@pytest.mark.parametrize("single_data_file", [True, False], ids=["single-data-file", "per-table"])
def test_a_backup_written_the_gpbackup_way_verifies_clean(
    cluster: Cluster, plugin: Plugin, s3: Any, single_data_file: bool
) -> None:
    harness_backup(cluster, single_data_file=single_data_file)
    objects = data_objects(s3, plugin)
    for deep in ((), ("--deep",)):
        code, lines, stderr = verify(plugin, *deep)
        assert (code, stderr) == (0, ""), lines
        assert len(lines) == 1, lines  # the summary alone: nothing missing, nothing unchecked
        counts = summary_counts(lines[0])
        assert counts == {"objects": len(objects), "bytes": sum(objects.values()), "checked": len(objects),
                          "unchecked": 0, "problems": 0}  # fmt: skip
    assert re.search(r"read \d+ bytes at [\d.]+ MB/s", lines[0]) and f"read {sum(objects.values())} bytes" in lines[0]


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_a_deleted_data_file_is_named(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    harness_backup(cluster, single_data_file=False)
    gone = f"{prefix(plugin)}gpbackup_2_{TIMESTAMP}_16384"
    s3.delete_object(Bucket=BUCKET, Key=gone)
    s3.delete_object(Bucket=BUCKET, Key=gone + ".gps3async-crc32c")  # a single PUT has none; harmless
    code, lines, stderr = verify(plugin)
    assert code == 1
    assert lines[:-1] == [f"MISSING    s3://{BUCKET}/{gone}: the segment 2 data of public.t16384 file a restore opens"]
    assert summary_counts(lines[-1])["problems"] == 1
    assert (
        stderr.count("\n") == 1
        and "1 problem in the backup set" in stderr
        and stderr.startswith("gpbackup_s3_plugin: ")
    )


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_missing_config_and_toc(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    harness_backup(cluster, single_data_file=True)
    toc = f"{prefix(plugin)}gpbackup_{TIMESTAMP}_toc.yaml"
    s3.delete_object(Bucket=BUCKET, Key=toc)
    code, lines, stderr = verify(plugin)
    assert code == 1 and stderr
    assert f"MISSING    s3://{BUCKET}/{toc}: the TOC file a restore opens" in lines
    assert any(line.startswith("BACKUP") and "without a readable TOC" in line for line in lines)
    config = f"{prefix(plugin)}gpbackup_{TIMESTAMP}_config.yaml"
    s3.delete_object(Bucket=BUCKET, Key=config)
    code, lines, stderr = verify(plugin)
    assert code == 1 and stderr
    assert f"MISSING    s3://{BUCKET}/{config}: the config file a restore opens" in lines
    assert any(line.startswith("BACKUP") and "without a readable config file" in line for line in lines)


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_a_config_or_toc_gprestore_could_not_read(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    harness_backup(cluster, single_data_file=True)
    toc = f"{prefix(plugin)}gpbackup_{TIMESTAMP}_toc.yaml"
    body = b"dataentries: [oops"
    s3.put_object(Bucket=BUCKET, Key=toc, Body=body, Metadata=digest_fields(crc32c.crc32c(body), len(body)))
    code, lines, _ = verify(plugin)
    assert code == 1
    assert any(line.startswith(f"CORRUPT    s3://{BUCKET}/{toc}: gprestore could not read it") for line in lines)


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_an_overwritten_multipart_object_is_caught(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    harness_backup(cluster, single_data_file=False)
    victim = f"{prefix(plugin)}gpbackup_1_{TIMESTAMP}_16393"
    size = data_objects(s3, plugin)[victim]
    assert size > 5 * MIB and s3.head_object(Bucket=BUCKET, Key=victim + ".gps3async-crc32c")
    s3.put_object(Bucket=BUCKET, Key=victim, Body=os.urandom(size))  # same size: only reading it tells
    code, lines, stderr = verify(plugin)
    assert (code, stderr) == (0, ""), lines
    code, lines, stderr = verify(plugin, "--deep")
    assert code == 1 and "1 problem" in stderr
    assert len(lines) == 2 and lines[0].startswith(f"CORRUPT    s3://{BUCKET}/{victim}: "), lines
    # The restore path's message: the whole object's CRC-32C, or (with block digests) the first bad block.
    seen_and_expected = (
        r"(CRC-32C mismatch \(read \S+==, backup recorded \S+==\)"
        r"|block \d+ \(bytes \d+-\d+\) .*\(expected CRC-32C \S+==, seen \S+==\))"
    )
    assert re.search(seen_and_expected, lines[0]), lines[0]
    assert re.search(rf"\[ERROR\].*CORRUPT +s3://{BUCKET}/{re.escape(victim)}: {seen_and_expected}", log_of(plugin))
    s3.put_object(Bucket=BUCKET, Key=victim, Body=os.urandom(size - 1))  # the size changed: the listing tells
    code, lines, _ = verify(plugin)
    assert code == 1
    assert lines[:-1] == [
        f"SIZE       s3://{BUCKET}/{victim}: {size - 1} bytes in the bucket, {size} recorded at backup"
    ]


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_a_single_put_object_rotting_under_its_metadata_is_caught_by_deep(
    cluster: Cluster, plugin: Plugin, s3: Any
) -> None:
    harness_backup(cluster, single_data_file=False)
    victim = f"{prefix(plugin)}gpbackup_0_{TIMESTAMP}_16384"
    head = s3.head_object(Bucket=BUCKET, Key=victim)
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=victim)["Body"].read())
    body[len(body) // 2] ^= 0x01  # one flipped bit; the recorded CRC-32C and size stay
    s3.put_object(Bucket=BUCKET, Key=victim, Body=bytes(body), Metadata=head["Metadata"])
    assert verify(plugin)[0] == 0
    code, lines, _ = verify(plugin, "--deep")
    assert code == 1
    assert len(lines) == 2 and lines[0].startswith(f"CORRUPT    s3://{BUCKET}/{victim}: ") and "CRC-32C" in lines[0]


def go_plugin_backup(plugin: Plugin, s3: Any, config: Path) -> dict[str, int]:
    """A per-table backup as the Go plugin leaves it: plain PutObjects and one multipart upload, nothing recorded."""
    rng = random.Random(3)
    tables = {content: {16384: rng.randbytes(2000), 16385: rng.randbytes(100)} for content in (0, 1)}
    tables[1][16385] = rng.randbytes(11 * MIB)
    backup = Backup(TIMESTAMP, "1.10.0", single_data_file=False, compression=None)
    files = {
        f"gpbackup_{TIMESTAMP}_config.yaml": backup_config(backup, tables, "1.10.0").encode(),
        f"gpbackup_{TIMESTAMP}_toc.yaml": coordinator_toc(tables).encode(),
        f"gpbackup_{TIMESTAMP}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
        f"gpbackup_{TIMESTAMP}_report": b"Backup Report\n",
        f"gpbackup_{TIMESTAMP}_plugin_config.yaml": config.read_bytes(),
    }
    files |= {f"gpbackup_{c}_{TIMESTAMP}_{oid}": rows for c, by_oid in tables.items() for oid, rows in by_oid.items()}
    big = f"gpbackup_1_{TIMESTAMP}_16385"
    for name, body in files.items():
        if name != big:
            s3.put_object(Bucket=BUCKET, Key=prefix(plugin) + name, Body=body)
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=prefix(plugin) + big)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(files[big]), 5 * MIB), 1):
        answer = s3.upload_part(Bucket=BUCKET, Key=prefix(plugin) + big, UploadId=upload, PartNumber=number,
                                Body=files[big][start : start + 5 * MIB])  # fmt: skip
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=prefix(plugin) + big, UploadId=upload,
                                 MultipartUpload={"Parts": parts})  # fmt: skip
    return {prefix(plugin) + name: len(body) for name, body in files.items()}


def test_a_go_plugin_backup_says_what_it_could_not_check(plugin: Plugin, s3: Any) -> None:
    written = go_plugin_backup(plugin, s3, plugin.config)
    big = f"{prefix(plugin)}gpbackup_1_{TIMESTAMP}_16385"
    multipart_etag = "-" in s3.head_object(Bucket=BUCKET, Key=big)["ETag"]  # rclone answers a plain MD5
    code, lines, stderr = verify(plugin)
    assert (code, stderr) == (0, ""), lines
    unchecked = {line.split()[1].removeprefix(f"s3://{BUCKET}/").rstrip(":"): line for line in lines[:-1]}
    assert set(unchecked) == set(written) and all(line.startswith("UNCHECKED ") for line in unchecked.values())
    assert all(line.endswith("; only its presence is checked") for line in unchecked.values())
    assert ("as a multipart upload" in unchecked[big]) == multipart_etag
    assert "multipart" not in unchecked[f"{prefix(plugin)}gpbackup_0_{TIMESTAMP}_16384"]
    assert summary_counts(lines[-1]) == {"objects": len(written), "bytes": sum(written.values()), "checked": 0,
                                         "unchecked": len(written), "problems": 0}  # fmt: skip
    # --deep reads every object back; those the restore path can check by their ETag count as checked.
    code, lines, stderr = verify(plugin, "--deep")
    assert (code, stderr) == (0, ""), lines
    unchecked = {line.split()[1].removeprefix(f"s3://{BUCKET}/").rstrip(":"): line for line in lines[:-1]}
    assert set(unchecked) <= set(written)
    assert all(line.startswith("UNCHECKED ") and "read back whole, content unchecked" in line for line in lines[:-1])
    counts = summary_counts(lines[-1])
    assert counts["checked"] + counts["unchecked"] == counts["objects"] == len(written)
    assert counts["unchecked"] == len(unchecked) and counts["problems"] == 0
    assert f"read {sum(written.values())} bytes" in lines[-1]
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix(plugin)}gpbackup_0_{TIMESTAMP}_16385")
    code, lines, _ = verify(plugin)
    assert code == 1 and any(line.startswith("MISSING ") and line.endswith("public.t16385 file a restore opens")
                             for line in lines)  # fmt: skip


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_deep_reads_hundreds_of_objects_in_parallel_within_the_memory_budget(
    plugin: Plugin, s3: Any, config_factory: Callable[..., Path]
) -> None:
    """A per-table backup of 100 tables on 3 segments (300 data objects, a few over one GET) read under 10 MiB."""
    config = config_factory(host_memory_limit="10MB", restore_multipart_chunksize="1MB")
    rng = random.Random(5)
    tables = {content: {16384 + n: rng.randbytes(rng.randrange(1, 40_000)) for n in range(100)} for content in range(3)}
    for content in range(3):
        tables[content][16384] = rng.randbytes(3 * MIB + 17)
    backup = Backup(TIMESTAMP, "1.0", single_data_file=False, compression=None)
    files = {
        f"gpbackup_{TIMESTAMP}_config.yaml": backup_config(backup, tables, "1.0").encode(),
        f"gpbackup_{TIMESTAMP}_toc.yaml": coordinator_toc(tables).encode(),
        f"gpbackup_{TIMESTAMP}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
        f"gpbackup_{TIMESTAMP}_report": b"Backup Report\n",
        f"gpbackup_{TIMESTAMP}_plugin_config.yaml": config.read_bytes(),
    }
    files |= {f"gpbackup_{c}_{TIMESTAMP}_{oid}": rows for c, by_oid in tables.items() for oid, rows in by_oid.items()}
    for name, body in files.items():  # as gps3async's single PutObjects: CRC-32C and size in the metadata
        s3.put_object(Bucket=BUCKET, Key=prefix(plugin) + name, Body=body,
                      Metadata=digest_fields(crc32c.crc32c(body), len(body)))  # fmt: skip
    code, lines, stderr = verify(plugin, "--deep", config=config)
    assert (code, stderr) == (0, ""), lines
    assert summary_counts(lines[-1])["checked"] == len(files) == 305
    found = re.search(r"--deep: 305 objects read, at most (\d+) at once; buffers peaked at (\d+) bytes of a "
                      r"(\d+)-byte budget", log_of(plugin))  # fmt: skip
    assert found, log_of(plugin)[-2000:]
    at_once, peak, limit = map(int, found.groups())
    assert limit == 10 * MIB
    assert at_once > 1, "objects are read in parallel"
    assert 2 * MIB <= peak <= limit, "the 3 MiB objects took their 1 MiB buffers from the budget, within it"


def test_bad_verify_command_lines(plugin: Plugin) -> None:
    result = plugin.run("verify", "2026120310150")
    assert result.returncode == 2 and b"14 digits" in result.stderr and result.stdout == b""
    result = plugin.run("verify", TIMESTAMP, "--shallow")
    assert result.returncode == 2 and b"unknown verify option '--shallow'" in result.stderr
    result = plugin.run("verify")
    assert result.returncode == 2 and b"verify CONFIG TIMESTAMP [--deep]" in result.stderr


@pytest.mark.agent_only  # a backup set of dozens of calls; the Go-plugin case and bad command lines run in-process too
def test_an_incremental_backup_needs_the_data_of_its_base(plugin: Plugin, s3: Any) -> None:
    """The restore plan takes public.t16384 from the base backup: its files there are part of the set."""
    base_ts = "20261201101500"
    rng = random.Random(9)
    base_tables = {c: {16384: rng.randbytes(500), 16385: rng.randbytes(700)} for c in (0, 1)}
    new_tables = {c: {16385: rng.randbytes(300)} for c in (0, 1)}
    base = Backup(base_ts, "1.0", single_data_file=False, compression=None)
    incremental = Backup(TIMESTAMP, "1.0", single_data_file=False, compression=None)
    plan = [{"timestamp": base_ts, "tablefqns": ["public.t16384"]},
            {"timestamp": TIMESTAMP, "tablefqns": ["public.t16385"]}]  # fmt: skip
    config = backup_config(incremental, new_tables, "1.0").replace("incremental: false", "incremental: true")
    document = yaml.safe_load(config) | {"restoreplan": plan}
    sets = {
        base_ts: (base_tables, backup_config(base, base_tables, "1.0")),
        TIMESTAMP: (new_tables, yaml.safe_dump(document)),
    }
    for ts, (tables, config_yaml) in sets.items():
        files = {
            f"gpbackup_{ts}_config.yaml": config_yaml.encode(),
            f"gpbackup_{ts}_toc.yaml": coordinator_toc(tables).encode(),
            f"gpbackup_{ts}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
            f"gpbackup_{ts}_report": b"Backup Report\n",
            f"gpbackup_{ts}_plugin_config.yaml": b"options: {}\n",
        }
        files |= {f"gpbackup_{c}_{ts}_{oid}": rows for c, by_oid in tables.items() for oid, rows in by_oid.items()}
        for name, body in files.items():
            s3.put_object(Bucket=BUCKET, Key=prefix(plugin, ts) + name, Body=body,
                          Metadata=digest_fields(crc32c.crc32c(body), len(body)))  # fmt: skip
    code, lines, stderr = verify(plugin, "--deep")
    assert (code, stderr) == (0, ""), lines
    # its own 5 + 2 data files, the base's TOC and the base's 2 files of public.t16384 (not its public.t16385)
    assert summary_counts(lines[-1])["objects"] == 10
    gone = f"{prefix(plugin, base_ts)}gpbackup_1_{base_ts}_16384"
    s3.delete_object(Bucket=BUCKET, Key=gone)
    code, lines, _ = verify(plugin)
    assert code == 1
    assert lines[:-1] == [f"MISSING    s3://{BUCKET}/{gone}: the segment 1 data of public.t16384 file a restore opens"]
