"""gprestore's flows through a network that closes every connection after 150 kB of responses (issue 26).

The harness's single-data-file restore (whole and filtered, ``restore_data``
and ``restore_data_subset``) and per-table restore run through a
:class:`~tests.faults.proxy.FaultProxy` that cuts every connection, kept-alive
ones included, once it has carried 150 kB: with 1 MiB ranges each range breaks
about seven times (more than the five resumes the plugin used to allow).  The
rows come back identical and nothing is left behind.  The backups go through
the same proxy before the cuts start.  The resumes happen in the S3 layer both
front doors share, so the flows run through the agent only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import AGENT_ONLY, Plugin
from tests.faults.proxy import ConnectionCut, FaultProxy
from tests.gpbackup_harness import Cluster
from tests.harness.test_gpbackup_flow import assert_nothing_left, tables_for
from tests.s3server import S3Server

pytestmark = [pytest.mark.stores("rclone", "rgw"), AGENT_ONLY]

CUT = ConnectionCut(response_bytes=150_000)
RANGE_DONE = re.compile(r"complete after (\d+) resumes")


@pytest.fixture
def proxy(s3_server: S3Server) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.port, tls=s3_server.tls) as running:
        yield running


@pytest.fixture
def cluster(
    plugin: Plugin, tmp_path: Path, config_factory: Callable[..., Path], proxy: FaultProxy
) -> Iterator[Cluster]:
    config = config_factory(
        "flaky.yaml", endpoint=proxy.endpoint, restore_subset='"on"', restore_multipart_chunksize="1MB"
    )
    made = Cluster(tmp_path / "cluster", config, plugin.env(), hosts={"sdw1": [0, 1]})  # segment 1 has the big table
    try:
        yield made
    finally:
        made.remove_config_copies()


def check_resumed(plugin: Plugin, proxy: FaultProxy, *, cuts: int) -> None:
    """The cuts happened, long ranges were resumed more than five times, nothing was given up."""
    log = "".join(path.read_text() for path in sorted((plugin.home / "gpAdminLogs").glob("*.log")))
    assert proxy.cuts >= cuts, f"the proxy cut {proxy.cuts} connections"
    resumes = [int(found) for found in RANGE_DONE.findall(log)]
    assert resumes and max(resumes) >= 6, f"a 1 MiB range should break off more than five times: {resumes}"
    assert "given up" not in log
    assert re.search(r"-\[INFO\]:-restore_data\S* s3://\S+: \d+ bytes in .*; survived \d+ broken bodies", log)


def test_single_data_file_restores_through_connections_cut_after_150_kb(
    cluster: Cluster, plugin: Plugin, proxy: FaultProxy, s3: Any
) -> None:
    tables = tables_for(cluster, 26)
    backup = cluster.backup(tables, single_data_file=True)
    proxy.cut_connections(CUT)

    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    cluster.wipe_local_backups()
    only = [16393, 16384]
    restored = cluster.restore(backup, only=only)
    assert restored == {content: {oid: tables[content][oid] for oid in only} for content in cluster.contents}
    assert sum("restore_data_subset" in call for call in cluster.calls) == len(cluster.contents)
    check_resumed(plugin, proxy, cuts=2 * 5 * 6)  # segment 1's file (over 5 MiB) twice, about 7 cuts per MiB
    proxy.cut_connections(None)
    assert_nothing_left(cluster, plugin, s3)


def test_per_table_restore_through_connections_cut_after_150_kb(
    cluster: Cluster, plugin: Plugin, proxy: FaultProxy, s3: Any
) -> None:
    tables = tables_for(cluster, 27)
    backup = cluster.backup(tables, single_data_file=False, compression="gzip")
    proxy.cut_connections(CUT)

    cluster.wipe_local_backups()
    assert cluster.restore(backup) == tables
    check_resumed(plugin, proxy, cuts=10)  # segment 1's large table (about 3 MB compressed), 7 cuts per MiB
    proxy.cut_connections(None)
    assert_nothing_left(cluster, plugin, s3)
