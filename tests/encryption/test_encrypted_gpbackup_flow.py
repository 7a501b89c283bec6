"""A whole gpbackup and gprestore run with client-side encryption, as the cluster makes the calls.

The harness (:mod:`tests.gpbackup_harness`) runs gpbackup's, gpbackup_helper's
and gprestore's exact plugin calls; here the config turns encryption on, so
every object of the backup set (the config copy, metadata, TOC, report and
the segments' data files) must be stored encrypted, and the full and the
filtered (``restore_data_subset``) restores must give back the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gps3async.core.encryption.format import MAGIC
from tests.conftest import BUCKET, Plugin
from tests.gpbackup_harness import Cluster
from tests.harness.test_gpbackup_flow import assert_nothing_left, keys_of, tables_for

#: Dozens of plugin processes per test: through the agent only (the plain harness flows and the
#: encrypted verbs run in-process too).
pytestmark = pytest.mark.agent_only


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = os.urandom(32).hex()
    monkeypatch.setenv("GPS3_FLOW_KEY", value)
    return value


@pytest.fixture
def encrypted_cluster(
    plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path], key: str
) -> Iterator[Cluster]:
    config = config_factory(
        "s3_config.yaml", restore_subset='"on"', client_side_encryption="aes-256-gcm",
        encryption_key="${GPS3_FLOW_KEY}",
    )  # fmt: skip
    made = Cluster(tmp_path / "cluster", config, plugin.env())
    try:
        yield made
    finally:
        made.remove_config_copies()


@pytest.mark.timeout(900)  # dozens of plugin processes; in-process each one starts Python
def test_encrypted_single_data_file_backup_then_full_and_filtered_restores(
    encrypted_cluster: Cluster, plugin: Plugin, s3: Any, key: str
) -> None:
    cluster = encrypted_cluster
    tables = tables_for(cluster, 11)
    backup = cluster.backup(tables, single_data_file=True)
    prefix = f"{plugin.folder}/backups/{backup.timestamp[:8]}/{backup.timestamp}/"
    stored = keys_of(s3, plugin, backup)
    assert any(name.endswith("_plugin_config.yaml") for name in stored)
    for name in stored:
        if name.endswith(".gps3async-crc32c"):
            continue
        body = s3.get_object(Bucket=BUCKET, Key=prefix + name)["Body"].read()
        assert body.startswith(MAGIC), f"{name} is not encrypted"
        assert key.encode() not in body and bytes.fromhex(key) not in body
    assert_nothing_left(cluster, plugin, s3)

    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    assert_nothing_left(cluster, plugin, s3)

    cluster.wipe_local_backups()
    only = [16393, 16384, 16390]
    restored = cluster.restore(backup, only=only)
    assert restored == {content: {oid: tables[content][oid] for oid in only} for content in cluster.contents}
    assert sum("restore_data_subset" in call for call in cluster.calls) == len(cluster.contents)
    assert_nothing_left(cluster, plugin, s3)


@pytest.mark.timeout(900)
def test_encrypted_per_table_backup_through_gzip(encrypted_cluster: Cluster, plugin: Plugin, s3: Any) -> None:
    cluster = encrypted_cluster
    tables = tables_for(cluster, 12)
    backup = cluster.backup(tables, single_data_file=False, compression="gzip")
    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    assert_nothing_left(cluster, plugin, s3)
