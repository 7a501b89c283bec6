"""Deletes that cannot escape the configured folder, and deletes and listings past one page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.cli.test_verbs import failed, ok
from tests.conftest import AGENT_ONLY, BUCKET, Plugin, write_config
from tests.s3server import make_client, open_uploads, start_rclone

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.s3server import S3Server

TIMESTAMP = "20261126101500"
#: More than one page of ListObjectsV2 and one batch of DeleteObjects (1,000 each).
CROWD = 1_005


def keys_under(s3: Any, prefix: str) -> list[str]:
    found: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        found += [item["Key"] for item in page.get("Contents", [])]
    return found


@pytest.fixture
def neighbours(plugin: Plugin, s3: Any) -> list[str]:
    """One object inside the folder, and objects of other clusters that share the bucket."""
    folder = plugin.folder
    placed = [f"{folder}/backups/20261126/{TIMESTAMP}/mine", f"{folder}0/backups/x", f"{folder}-old/x",
              f"{folder.rsplit('/', 1)[0]}/other/backups/x", "root-object"]  # fmt: skip
    for key in placed:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"keep")
    return placed


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("", "whole bucket"),
        ("/", "whole bucket"),
        ("../", "'..' is not allowed"),
        ("{folder}/../", "'..' is not allowed"),
        ("{folder}/backups/..", "'..' is not allowed"),
        ("tests", "outside the configured folder"),
        ("{folder}0", "outside the configured folder"),
        ("/{folder}", "outside the configured folder"),
        ("root-object", "outside the configured folder"),
    ],
)
def test_delete_directory_refuses_prefixes_outside_the_folder(
    plugin: Plugin, s3: Any, neighbours: list[str], prefix: str, reason: str
) -> None:
    result = plugin.run("delete_directory", prefix.format(folder=plugin.folder))
    line = failed(result)
    assert result.returncode == 2
    assert line.startswith("gpbackup_s3_plugin: refusing to delete ") and reason in line
    for key in neighbours:
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"keep"


def test_delete_directory_of_the_folder_spares_folders_that_share_its_name(
    plugin: Plugin, s3: Any, neighbours: list[str]
) -> None:
    ok(plugin.run("delete_directory", plugin.folder))
    assert keys_under(s3, plugin.folder + "/") == []
    for key in neighbours[1:]:
        assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"keep"


def test_delete_backup_aborts_the_backups_unfinished_uploads(plugin: Plugin, s3: Any) -> None:
    mine = plugin.key(plugin.backup_dir(TIMESTAMP) / "gpbackup_0_20261126101500")
    other = plugin.key(plugin.backup_dir("20261126101501") / "gpbackup_0_20261126101501")
    for key in (mine, other):
        s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    s3.put_object(Bucket=BUCKET, Key=mine + "_toc.yaml", Body=b"toc")
    ok(plugin.run("delete_backup", TIMESTAMP))
    assert [upload["Key"] for upload in open_uploads(s3, BUCKET, plugin.folder)] == [other]
    assert keys_under(s3, plugin.folder) == []
    log = "".join(path.read_text() for path in (plugin.home / "gpAdminLogs").glob("*.log"))
    assert f"aborted unfinished multipart upload of s3://{BUCKET}/{mine}" in log


@pytest.fixture
def crowded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3Server, str]]:
    """A server of its own whose bucket already holds :data:`CROWD` objects of one backup (files on disk)."""
    root = tmp_path_factory.mktemp("crowded")
    folder = "crowd/cluster1"
    backup = root / BUCKET / folder / "backups" / TIMESTAMP[:8] / TIMESTAMP
    backup.mkdir(parents=True)
    for number in range(CROWD):
        (backup / f"gpbackup_{number}_{TIMESTAMP}").write_bytes(b"%d" % number)
    (root / BUCKET / "crowd" / "cluster2").mkdir(parents=True)
    (root / BUCKET / "crowd" / "cluster2" / "kept").write_bytes(b"keep")
    server = start_rclone(root)
    try:
        yield server, folder
    finally:
        server.stop()


@AGENT_ONLY  # paging lives in the shared S3 layer
@pytest.mark.parametrize("verb", ["delete_backup", "delete_directory"])
def test_list_and_delete_page_past_a_thousand_keys(
    plugin: Plugin, tmp_path: Path, crowded_server: tuple[S3Server, str], verb: str
) -> None:
    server, folder = crowded_server
    s3 = make_client(server.endpoint)
    config = write_config(tmp_path / "crowded.yaml", server.endpoint, folder, **plugin.mode_options())
    rows = ok(plugin.run("list_directory", config=config)).decode().splitlines()[1:]
    assert len(rows) == CROWD
    argument = TIMESTAMP if verb == "delete_backup" else f"{folder}/backups/"
    ok(plugin.run(verb, argument, config=config))
    assert keys_under(s3, folder) == []
    assert keys_under(s3, "crowd/") == ["crowd/cluster2/kept"]
