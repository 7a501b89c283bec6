"""``list`` shows each set's Object Lock retention, and ``expire`` keeps what the lock retains (real Ceph RGW).

Two harness backups (an hour apart, so ``--keep-full 1`` selects the older)
go to a bucket created with ``ObjectLockEnabledForBucket``, locked in
governance mode for one day; they stay to the RGW's end (its data lives in
memory).  On rclone, which has no Object Lock, nothing changes.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from gps3async.core.objectlock import format_date, retain_until
from tests.cli.test_catalogue import go_plugin_set, ok, one_error
from tests.cli.test_object_lock import versions
from tests.gpbackup_harness import Cluster

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.conftest import Plugin

pytestmark = pytest.mark.stores("rgw")


def read_logs(plugin: Plugin) -> str:
    return "".join(path.read_text() for path in sorted((plugin.home / "gpAdminLogs").glob("*.log")))


def test_list_shows_retain_until_and_expire_keeps_retained_sets(
    plugin: Plugin, s3: Any, tmp_path: Path, config_factory: Callable[..., Path]
) -> None:
    bucket = f"lock-list-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    config = config_factory("lock.yaml", bucket=bucket, object_lock_mode="governance", object_lock_retain_days=1)
    cluster = Cluster(tmp_path / "cluster", config, plugin.env(), {"sdw1": [0]})
    old, new = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() - 3600)), time.strftime("%Y%m%d%H%M%S")
    try:
        for timestamp in (old, new):
            cluster.backup({0: {16384: b"1,one\n2,two\n"}}, single_data_file=False, timestamp=timestamp)
    finally:
        cluster.remove_config_copies()
    until = {ts: format_date(retain_until(ts, 1)) for ts in (old, new)}

    document = json.loads(ok(plugin.run("list", "--json", config=config)))
    assert {e["timestamp"]: e["retention"] for e in document["sets"]} == {
        ts: {"mode": "GOVERNANCE", "retain_until": until[ts]} for ts in (old, new)
    }
    table = ok(plugin.run("list", config=config)).splitlines()
    assert table[0].split()[-2:] == ["RETAINED", "UNTIL"]
    assert table[1].startswith(old) and table[1].endswith(until[old])
    detail = ok(plugin.run("list", old, config=config)).splitlines()
    assert f"retention:  GOVERNANCE until {until[old]}" in detail
    # Without lock options the bucket's own Object Lock decides; bounded: one GetObjectLockConfiguration per call,
    # one GetObjectRetention per set.
    plain = config_factory("plain.yaml", bucket=bucket, logger_verbosity="debug")
    before = read_logs(plugin)
    again = json.loads(ok(plugin.run("list", "--json", config=plain)))
    assert [e["retention"] for e in again["sets"]] == [e["retention"] for e in document["sets"]]
    after = read_logs(plugin)
    for request, count in (("?object-lock", 1), ("?retention", 2)):  # the debug log names every request
        assert after.count(request) - before.count(request) == count, request

    prefix = f"{plugin.folder}/backups/{old[:8]}/{old}/"
    before = versions(s3, bucket, prefix)
    assert before[0] and before[1] == []
    for dry_run in (("--dry-run",), ()):  # the old set is selected, and retained: kept, said, and a failure
        result = plugin.run("expire", "--keep-full", "1", *dry_run, config=config)
        line = one_error(result)
        assert "1 selected sets are retained by Object Lock" in line
        assert f"{old} (GOVERNANCE until {until[old]})" in line
        out = result.stdout.decode().splitlines()
        verb = "would keep" if dry_run else "not deleting"
        assert f"{verb} set {old}: retained by Object Lock, GOVERNANCE until {until[old]}" in out
        assert out[-1].startswith(f"expire{' --dry-run: would delete' if dry_run else ': deleted'} 0 sets, 0 objects")
        assert out[-1].endswith(
            "; would keep 1 sets retained by Object Lock" if dry_run else "; kept 1 sets retained by Object Lock"
        )
        assert not any(o.startswith(("would delete set", "deleting set")) for o in out)
        assert versions(s3, bucket, prefix) == before, "nothing deleted, no delete marker"

    bypass = config_factory("bypass.yaml", bucket=bucket, object_lock_mode="governance", object_lock_retain_days=1,
                            object_lock_bypass_governance="true")  # fmt: skip
    dry = ok(plugin.run("expire", "--keep-full", "1", "--dry-run", config=bypass))
    assert f"would delete set {old} (full, " in dry and "retained" not in dry


@pytest.mark.stores("rclone")
@pytest.mark.agent_only
def test_without_object_lock_list_has_no_retention(plugin: Plugin, s3: Any) -> None:
    go_plugin_set(plugin, s3)
    table = ok(plugin.run("list"))
    assert "RETAINED" not in table and "retention" not in ok(plugin.run("list", "20261104010000"))
    (entry,) = json.loads(ok(plugin.run("list", "--json")))["sets"]
    assert entry["retention"] is None
    assert read_logs(plugin).count("retention not shown") == 3, "one log line per call"
