"""``list`` and ``expire`` against backup sets in a real S3 server.

The bucket holds sets written the gpbackup way by :mod:`tests.gpbackup_harness`
(two full backups of ``demo``, an incremental of the first, an encrypted full
of ``secret``), a set written the Go plugin's way with boto3 (no metadata, no
companions) of database ``other``, a failed set with no config, and an open
multipart upload.
"""

from __future__ import annotations

import json
import os
import random
import re
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import BUCKET, Plugin
from tests.gpbackup_harness import Backup, Cluster, backup_config, coordinator_toc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.stores("rclone", "rgw")

FULL_1, INCREMENTAL_1, FAILED, GO_SET, ENCRYPTED, FULL_2 = (
    "20261101010000", "20261102010000", "20261103010000", "20261104010000", "20261105010000", "20261110010000",
)  # fmt: skip
OID = 16384


def prefix(plugin: Plugin, timestamp: str) -> str:
    return f"{plugin.folder}/backups/{timestamp[:8]}/{timestamp}/"


def open_under(s3: Any, plugin: Plugin) -> list[Any]:
    """The unfinished uploads under this test's folder (the RGW is shared by every worker's tests)."""
    return list(s3.list_multipart_uploads(Bucket=BUCKET, Prefix=plugin.folder + "/").get("Uploads", []))


def listed(s3: Any, plugin: Plugin) -> dict[str, int]:
    found: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=plugin.folder + "/"):
        found |= {item["Key"]: item["Size"] for item in page.get("Contents", [])}
    return found


def go_plugin_set(plugin: Plugin, s3: Any, timestamp: str = GO_SET, database: str = "other") -> None:
    """A per-table backup as the Go plugin leaves it: plain PutObjects, nothing recorded."""
    tables = {content: {OID: random.Random(content).randbytes(300)} for content in (0, 1)}
    backup = Backup(timestamp, "1.10.0", single_data_file=False, compression=None)
    ts = timestamp
    files = {
        f"gpbackup_{ts}_config.yaml": backup_config(backup, tables, "1.10.0", {"databasename": database}).encode(),
        f"gpbackup_{ts}_toc.yaml": coordinator_toc(tables).encode(),
        f"gpbackup_{ts}_metadata.sql": b"SET client_encoding = 'UTF8';\n",
        f"gpbackup_{ts}_report": b"Backup Report\n",
        f"gpbackup_{ts}_plugin_config.yaml": plugin.config.read_bytes(),
    }
    files |= {f"gpbackup_{c}_{ts}_{OID}": rows[OID] for c, rows in tables.items()}
    for name, body in files.items():
        s3.put_object(Bucket=BUCKET, Key=prefix(plugin, ts) + name, Body=body)


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> str:
    value = os.urandom(32).hex()
    monkeypatch.setenv("GPS3_CATALOGUE_KEY", value)
    return value


@pytest.fixture
def bucket_sets(
    plugin: Plugin, s3: Any, tmp_path: Path, config_factory: Callable[..., Path], key: str
) -> Iterator[dict[str, Backup]]:
    """Every kind of set the catalogue knows, and one open upload under the newest full backup."""
    hosts = {"sdw1": [0, 1]}
    plain = Cluster(tmp_path / "plain", config_factory("s3_config.yaml"), plugin.env(), hosts)
    sealed_config = config_factory("sealed.yaml", client_side_encryption="aes-256-gcm",
                                   encryption_key="${GPS3_CATALOGUE_KEY}")  # fmt: skip
    sealed = Cluster(tmp_path / "sealed", sealed_config, plugin.env(), hosts)
    rng = random.Random(5)
    tables = {content: {OID: rng.randbytes(400)} for content in (0, 1)}
    plan = [{"timestamp": INCREMENTAL_1, "tablefqns": [f"public.t{OID}"]}, {"timestamp": FULL_1, "tablefqns": []}]
    try:
        made = {
            FULL_1: plain.backup(tables, single_data_file=False, timestamp=FULL_1),
            INCREMENTAL_1: plain.backup(tables, single_data_file=False, timestamp=INCREMENTAL_1,
                                        config_fields={"incremental": True, "restoreplan": plan}),
            ENCRYPTED: sealed.backup(tables, single_data_file=True, timestamp=ENCRYPTED,
                                     config_fields={"databasename": "secret"}),
            FULL_2: plain.backup(tables, single_data_file=True, timestamp=FULL_2),
        }  # fmt: skip
        go_plugin_set(plugin, s3)
        s3.put_object(Bucket=BUCKET, Key=f"{prefix(plugin, FAILED)}gpbackup_0_{FAILED}_{OID}", Body=b"x" * 10)
        s3.create_multipart_upload(Bucket=BUCKET, Key=f"{prefix(plugin, FULL_2)}gpbackup_1_{FULL_2}_99999")
        yield made
    finally:
        plain.remove_config_copies()
        sealed.remove_config_copies()


def ok(result: Any) -> str:
    assert (result.returncode, result.stderr.decode()) == (0, ""), result.stdout.decode()
    return str(result.stdout.decode())


def one_error(result: Any) -> str:
    lines = result.stderr.decode().splitlines()
    assert result.returncode != 0 and len(lines) == 1, (result.returncode, lines)
    return str(lines[0])


@pytest.mark.agent_only  # a dozen gpbackup calls per set; the command lines run in-process below
def test_list_then_expire(
    plugin: Plugin, s3: Any, bucket_sets: dict[str, Backup], config_factory: Callable[..., Path]
) -> None:
    before = listed(s3, plugin)
    document = json.loads(ok(plugin.run("list", "--json")))
    assert document["schema"] == 1 and document["bucket"] == BUCKET and document["timestamp"] is None
    sets = {entry["timestamp"]: entry for entry in document["sets"]}
    assert list(sets) == sorted([FULL_1, INCREMENTAL_1, FAILED, GO_SET, ENCRYPTED, FULL_2])
    summary = {ts: (e["database"], e["type"], e["complete"], e["encrypted"], e["plugin"], e["config"])
               for ts, e in sets.items()}  # fmt: skip
    assert summary == {
        FULL_1: ("demo", "full", True, False, "gps3async", "read"),
        INCREMENTAL_1: ("demo", "incremental", True, False, "gps3async", "read"),
        FAILED: (None, "unknown", False, False, "unknown", "missing"),
        GO_SET: ("other", "full", True, False, "go", "read"),
        ENCRYPTED: (None, "unknown", None, True, "gps3async", "encrypted"),  # no key in this config
        FULL_2: ("demo", "full", True, False, "gps3async", "read"),
    }
    assert sets[INCREMENTAL_1]["depends_on"] == [FULL_1] and sets[FULL_1]["needed_by"] == [INCREMENTAL_1]
    for ts, entry in sets.items():
        mine = {k: size for k, size in before.items() if k.startswith(prefix(plugin, ts))}
        assert (entry["objects"], entry["bytes"]) == (len(mine), sum(mine.values())), ts
        assert sum(entry["bytes_per_segment"].values()) == entry["bytes"]
    assert sets[FULL_2]["segment_count"] == 2 and set(sets[FULL_2]["bytes_per_segment"]) == {"-1", "0", "1"}
    assert sets[FAILED]["missing"][0].startswith(f"gpbackup_{FAILED}_config.yaml")
    (upload,) = document["unfinished_uploads"]
    assert upload["key"] == f"{prefix(plugin, FULL_2)}gpbackup_1_{FULL_2}_99999" and 0 <= upload["age_hours"] < 1

    # With the key, the encrypted set is read like any other.
    keyed = config_factory("keyed.yaml", client_side_encryption="aes-256-gcm", encryption_key="${GPS3_CATALOGUE_KEY}")
    entry = json.loads(ok(plugin.run("list", ENCRYPTED, "--json", config=keyed)))["sets"][0]
    assert (entry["database"], entry["type"], entry["complete"], entry["encrypted"]) == ("secret", "full", True, True)

    table = ok(plugin.run("list")).splitlines()
    assert table[0].split()[:4] == ["TIMESTAMP", "DATE", "DATABASE", "TYPE"]
    assert re.match(rf"{INCREMENTAL_1}\s+2026-11-02 01:00:00\s+demo\s+incremental\s+Success\s+2\s", table[2])
    assert any(line.startswith(f"{FAILED} is incomplete: gpbackup_{FAILED}_config.yaml") for line in table)
    assert any(upload["key"] in line for line in table)
    assert table[-1].startswith("6 sets, ") and table[-1].endswith("; 2 incomplete or unknown; 1 unfinished uploads")

    detail = ok(plugin.run("list", FULL_1)).splitlines()
    assert f"needed by:  {INCREMENTAL_1} (incremental, complete: yes)" in detail and "complete:   yes" in detail
    chain = json.loads(ok(plugin.run("list", INCREMENTAL_1, "--json")))
    assert [e["timestamp"] for e in chain["sets"]] == [FULL_1, INCREMENTAL_1] and chain["unfinished_uploads"] == []

    # A base gone: its dependent is reported incomplete.
    s3.delete_object(Bucket=BUCKET, Key=f"{prefix(plugin, FULL_1)}gpbackup_1_{FULL_1}_{OID}")
    chain = json.loads(ok(plugin.run("list", INCREMENTAL_1, "--json")))
    assert [(e["complete"], e["missing"]) for e in chain["sets"]] == [
        (False, [f"gpbackup_1_{FULL_1}_{OID}"]), (False, [f"its base {FULL_1} is incomplete"])]  # fmt: skip
    assert one_error(plugin.run("list", "20260101000000")).endswith(f"no backup set 20260101000000 under "
                                                                     f"s3://{BUCKET}/{plugin.folder}/")  # fmt: skip
    assert listed(s3, plugin) == {k: v for k, v in before.items() if not k.endswith(f"gpbackup_1_{FULL_1}_{OID}")}
    s3.put_object(Bucket=BUCKET, Key=f"{prefix(plugin, FULL_1)}gpbackup_1_{FULL_1}_{OID}", Body=b"back")
    # Without the key, what the encrypted set depends on is unknown: nothing older than it may go.
    line = one_error(plugin.run("expire", "--keep-full", "1", "--dry-run"))
    assert f"the config of kept set(s) {ENCRYPTED} cannot be read" in line
    expire_keeps_chains_whole_and_deletes_what_the_dry_run_printed(plugin, s3, keyed)


def printed_objects(output: str) -> dict[str, int]:
    found = re.findall(rf"^  s3://{BUCKET}/(\S+) (\d+)$", output, re.MULTILINE)
    return {key: int(size) for key, size in found}


def expire_keeps_chains_whole_and_deletes_what_the_dry_run_printed(plugin: Plugin, s3: Any, keyed: Path) -> None:
    """Part of the test above (one bucket of sets for both verbs), with the key configured."""
    s3.create_multipart_upload(Bucket=BUCKET, Key=f"{prefix(plugin, INCREMENTAL_1)}gpbackup_0_{INCREMENTAL_1}_99")
    before = listed(s3, plugin)

    def expire(*args: str) -> Any:
        return plugin.run("expire", *args, config=keyed)

    # A kept incremental depends on the full the policy selects: refused, nothing deleted.
    line = one_error(expire("--before-timestamp", "20261102000000"))
    assert f"{INCREMENTAL_1} needs {FULL_1}" in line and "--cascade" in line
    assert listed(s3, plugin) == before

    # Every policy spares the newest complete full of each database.
    dry = ok(expire("--older-than-days", "0", "--dry-run"))
    assert f"keeping set {FULL_2}: the newest complete full backup of its database" in dry
    assert f"keeping set {GO_SET}: the newest complete full backup of its database" in dry
    assert listed(s3, plugin) == before
    # FAILED has no config: it goes as it is older than the kept full of every database.
    keep_one = ok(expire("--keep-full", "1", "--dry-run"))
    assert re.findall(r"^would delete set (\d+)", keep_one, re.MULTILINE) == [FAILED, INCREMENTAL_1, FULL_1]

    args = ("--before-timestamp", "20261102000000", "--cascade", "--unfinished-older-than", "0")
    dry = ok(expire(*args, "--dry-run"))
    assert re.findall(r"^would delete set (\d+)", dry, re.MULTILINE) == [INCREMENTAL_1, FULL_1]
    assert f"would delete set {INCREMENTAL_1} (incremental, demo): " in dry
    assert dry.count("(cascade: depends on an expired set)") == 1
    doomed = printed_objects(dry)
    assert doomed == {k: v for k, v in before.items() if k.startswith((prefix(plugin, INCREMENTAL_1),
                                                                       prefix(plugin, FULL_1)))}  # fmt: skip
    assert dry.splitlines()[-1] == (f"expire --dry-run: would delete 2 sets, {len(doomed)} objects, "
                                    f"{sum(doomed.values())} bytes; would abort 2 unfinished uploads")  # fmt: skip
    assert f"  would abort unfinished upload s3://{BUCKET}/{prefix(plugin, INCREMENTAL_1)}gpbackup_0_" in dry
    assert listed(s3, plugin) == before and len(open_under(s3, plugin)) == 2

    real = ok(expire(*args))
    assert printed_objects(real) == doomed
    assert real.splitlines()[-1] == (f"expire: deleted 2 sets, {len(doomed)} objects, {sum(doomed.values())} bytes; "
                                     "aborted 2 unfinished uploads")  # fmt: skip
    assert listed(s3, plugin) == {k: v for k, v in before.items() if k not in doomed}
    assert open_under(s3, plugin) == []
    left = json.loads(ok(plugin.run("list", "--json")))["sets"]
    assert [(e["timestamp"], e["complete"]) for e in left] == [(FAILED, False), (GO_SET, True), (ENCRYPTED, None),
                                                               (FULL_2, True)]  # fmt: skip


@pytest.mark.stores("rclone")
def test_command_lines_and_an_empty_folder(plugin: Plugin) -> None:
    """Both front doors: an empty folder lists as such; each bad command line is one stderr line."""
    lines = ok(plugin.run("list")).splitlines()
    root = f"s3://{BUCKET}/{plugin.folder}/"
    assert lines == [f"no backup sets under {root}", f"no unfinished multipart uploads under {root}",
                     "0 sets, 0 objects, 0 bytes; 0 incomplete or unknown; 0 unfinished uploads"]  # fmt: skip
    dry = ok(plugin.run("expire", "--keep-full", "1", "--older-than-days", "7", "--dry-run"))
    assert dry == "expire --dry-run: would delete 0 sets, 0 objects, 0 bytes; would abort 0 unfinished uploads\n"
    for args, says in [(("expire", "--dry-run"), "expire needs a policy"), (("list", "--deep"), "unexpected list"),
                       (("expire", "--keep-full", "0"), "--keep-full needs a whole number of at least 1")]:  # fmt: skip
        result = plugin.run(*args)
        assert result.returncode == 2 and says in one_error(result) and result.stdout == b""
