"""Whole gpbackup and gprestore runs, as the cluster makes the calls, through the agent and in-process.

See :mod:`tests.gpbackup_harness` for what each step runs.  After every run:
identical bytes, and no plugin process, temporary file or unfinished multipart
upload left behind.  The agent itself may stay until its idle timeout; the
``plugin`` fixture stops it.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gps3async.core.configcopy import REDACTED
from tests.conftest import BUCKET, Plugin
from tests.gpbackup_harness import COORDINATOR, Backup, Cluster, PluginCallFailed
from tests.s3server import SECRET_KEY, open_uploads

MIB = 1024 * 1024
#: Table oids; 16390 is empty on every segment, 16393 is larger than one 5 MiB part on segment 1.
OIDS = (16384, 16390, 16391, 16393)


def rows(rng: random.Random, content: int, oid: int) -> bytes:
    """CSV rows as COPY writes them: compressible, different on every segment."""
    if oid == 16390:
        return b""
    count = 90_000 if (oid, content) == (16393, 1) else rng.randrange(50, 3000)
    return b"".join(b"%d,%d,%s\n" % (oid, n, rng.randbytes(24).hex().encode()) for n in range(count))


@pytest.fixture
def cluster(plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path]) -> Iterator[Cluster]:
    config = config_factory("s3_config.yaml", restore_subset='"on"')
    made = Cluster(tmp_path / "cluster", config, plugin.env())
    try:
        yield made
    finally:
        made.remove_config_copies()


def tables_for(cluster: Cluster, seed: int) -> dict[int, dict[int, bytes]]:
    rng = random.Random(seed)
    return {content: {oid: rows(rng, content, oid) for oid in OIDS} for content in cluster.contents}


def assert_nothing_left(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    assert cluster.plugin_processes() == []
    assert cluster.temporary_files() == []
    assert open_uploads(s3, BUCKET, f"{plugin.folder}/") == []


def keys_of(s3: Any, plugin: Plugin, backup: Backup) -> set[str]:
    prefix = f"{plugin.folder}/backups/{backup.timestamp[:8]}/{backup.timestamp}/"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {item["Key"][len(prefix) :] for item in listed}


@pytest.mark.agent_only  # long flows; the in-process door runs the failing flow below
def test_single_data_file_backup_then_full_and_filtered_restores(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    tables = tables_for(cluster, 1)
    backup = cluster.backup(tables, single_data_file=True)
    config_copy = cluster.config_copies[0].read_text()
    assert "  pgport: " in config_copy and '  backup_plugin_version: ""' in config_copy
    assert any(call.endswith(' segment \\"0\\"') for call in cluster.calls), "segment hooks pass quoted content ids"
    ts = backup.timestamp
    expected = {f"gpbackup_{c}_{ts}" for c in cluster.contents} | {
        f"gpbackup_{c}_{ts}_toc.yaml" for c in cluster.contents
    }
    expected |= {f"gpbackup_{ts}_{name}" for name in ("metadata.sql", "toc.yaml", "plugin_config.yaml", "config.yaml")}
    assert expected | {f"gpbackup_{ts}_report"} <= keys_of(s3, plugin, backup)
    assert_nothing_left(cluster, plugin, s3)
    # the config copy holds the suite's literal secret; the bucket holds it redacted, the rest as gpbackup wrote it
    copy_name = f"gpbackup_{ts}_plugin_config.yaml"
    local_copy = backup.coordinator_files[copy_name]
    stored_copy = s3.get_object(Bucket=BUCKET, Key=f"{plugin.folder}/backups/{ts[:8]}/{ts}/{copy_name}")["Body"].read()
    assert SECRET_KEY.encode() in local_copy and SECRET_KEY.encode() not in stored_copy
    assert stored_copy == local_copy.replace(SECRET_KEY.encode(), f'"{REDACTED}"'.encode())

    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    assert not any("restore_data_subset" in call for call in cluster.calls)
    assert_nothing_left(cluster, plugin, s3)

    cluster.wipe_local_backups()
    only = [16393, 16384, 16390]  # gprestore's order, not the file's
    restored = cluster.restore(backup, only=only)
    assert restored == {content: {oid: tables[content][oid] for oid in only} for content in cluster.contents}
    assert sum("restore_data_subset" in call for call in cluster.calls) == len(cluster.contents)
    assert_nothing_left(cluster, plugin, s3)
    restored_config = cluster.backup_dir(COORDINATOR, ts) / f"gpbackup_{ts}_config.yaml"
    assert restored_config.read_bytes() == backup.coordinator_files[restored_config.name]
    # gpbackup --incremental on top of this backup restores its config copy (and never parses it)
    restored_copy = cluster.backup_dir(COORDINATOR, ts) / copy_name
    cluster.bash(f"{cluster.executable} restore_file {cluster.config_copies[-1]} {restored_copy}")
    assert restored_copy.read_bytes() == stored_copy


@pytest.mark.agent_only  # long flows; the in-process door runs the failing flow below
@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_per_table_backup_through_compression_pipelines(
    cluster: Cluster, plugin: Plugin, s3: Any, compression: str
) -> None:
    tables = tables_for(cluster, 2)
    backup = cluster.backup(tables, single_data_file=False, compression=compression)
    suffix = {"gzip": ".gz", "zstd": ".zst"}[compression]
    stored = keys_of(s3, plugin, backup)
    for content in cluster.contents:
        for oid in OIDS:
            assert f"gpbackup_{content}_{backup.timestamp}_{oid}{suffix}" in stored
    if compression == "gzip":
        key = (
            f"{plugin.folder}/backups/{backup.timestamp[:8]}/{backup.timestamp}/gpbackup_0_{backup.timestamp}_16384.gz"
        )
        assert gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) == tables[0][16384]
    assert_nothing_left(cluster, plugin, s3)

    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    assert_nothing_left(cluster, plugin, s3)


def test_a_failing_call_fails_the_run_and_leaves_nothing_behind(cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    tables = tables_for(cluster, 3)
    backup = cluster.backup(tables, single_data_file=True)
    ts = backup.timestamp
    s3.delete_object(Bucket=BUCKET, Key=f"{plugin.folder}/backups/{ts[:8]}/{ts}/gpbackup_2_{ts}")
    cluster.wipe_local_backups()
    with pytest.raises(PluginCallFailed, match=r"restore_data .*gpbackup_2_.* exited 1, stderr 'gpbackup_s3_plugin: "):
        cluster.restore(backup)
    assert_nothing_left(cluster, plugin, s3)


def test_the_harness_counts_stderr_output_as_failure(cluster: Cluster) -> None:
    """gpbackup_helper fails a restore on any stderr output, even with exit status 0."""
    with pytest.raises(PluginCallFailed, match="exited 0, stderr 'noise"):
        cluster.bash("echo noise >&2")
