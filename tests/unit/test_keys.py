from __future__ import annotations

import pytest

from gps3async.core.errors import UsageError
from gps3async.core.keys import (
    backup_file,
    backup_prefix,
    content_id,
    directory_key,
    object_key,
    report_key,
    scoped_delete_prefix,
    validate_timestamp,
)


def test_key_is_folder_plus_last_four_path_components() -> None:
    path = "/data/gpseg0/backups/20261126/20261126101500/gpbackup_0_20261126101500.gz"
    assert (
        object_key("test/backup3", path) == "test/backup3/backups/20261126/20261126101500/gpbackup_0_20261126101500.gz"
    )


def test_key_keeps_folder_verbatim_like_the_go_plugin() -> None:
    assert object_key("f/", "/a/backups/d/t/x") == "f//backups/d/t/x"


def test_short_paths_are_refused() -> None:
    with pytest.raises(UsageError):
        object_key("f", "d/t/x")


def test_report_key() -> None:
    key = report_key("f", "/tmp/testseg/backups/20261126/20261126101500")
    assert key == "f/backups/20261126/20261126101500/gpbackup_20261126101500_report"
    assert report_key("f", "/tmp/testseg/backups/20261126/20261126101500/") == key


def test_backup_prefix_ends_with_slash_so_siblings_are_safe() -> None:
    assert backup_prefix("f", "20261126101500") == "f/backups/20261126/20261126101500/"


@pytest.mark.parametrize("bad", ["2026112610150", "202611261015001", "2026112610150x", "", "20261126 101500"])
def test_timestamps_must_be_14_digits(bad: str) -> None:
    with pytest.raises(UsageError, match="14 digits"):
        validate_timestamp(bad)


@pytest.mark.parametrize(("raw", "expected"), [("-1", -1), ('"-1"', -1), ('"0"', 0), ("12", 12)])
def test_content_ids_with_or_without_quotes(raw: str, expected: int) -> None:
    assert content_id(raw) == expected


def test_bad_content_id() -> None:
    with pytest.raises(UsageError):
        content_id("seg1")


def test_directory_keys_drop_the_leading_slash() -> None:
    assert directory_key("/tmp/dir/f0") == "tmp/dir/f0"
    assert directory_key("rel/f0") == "rel/f0"


@pytest.mark.parametrize(
    ("prefix", "reason"),
    [
        ("", "whole bucket"),
        ("/", "whole bucket"),
        ("//", "whole bucket"),
        ("../", "'..' is not allowed"),
        ("prod/cluster1/../cluster2", "'..' is not allowed"),
        ("prod/cluster1/backups/..", "'..' is not allowed"),
        ("prod", "outside the configured folder"),
        ("prod/cluster10", "outside the configured folder"),
        ("prod/cluster2/backups", "outside the configured folder"),
        ("/prod/cluster1/backups", "outside the configured folder"),
        ("other", "outside the configured folder"),
    ],
)
def test_delete_prefixes_that_escape_the_folder_are_refused(prefix: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        scoped_delete_prefix("prod/cluster1", prefix)


@pytest.mark.parametrize(
    ("folder", "prefix", "scoped"),
    [
        ("prod/cluster1", "prod/cluster1", "prod/cluster1/"),
        ("prod/cluster1", "prod/cluster1/", "prod/cluster1/"),
        ("prod/cluster1/", "prod/cluster1", "prod/cluster1/"),
        ("prod/cluster1", "prod/cluster1/backups", "prod/cluster1/backups"),
        ("prod/cluster1", "prod/cluster1/backups/20261126/", "prod/cluster1/backups/20261126/"),
        ("prod/cluster1", "prod/cluster1/a..b", "prod/cluster1/a..b"),
    ],
)
def test_delete_prefixes_inside_the_folder_are_kept(folder: str, prefix: str, scoped: str) -> None:
    assert scoped_delete_prefix(folder, prefix) == scoped


@pytest.mark.parametrize(
    ("key", "found"),
    [
        (
            "prod/backups/20261126/20261126101500/gpbackup_0_20261126101500",
            ("20261126101500", "gpbackup_0_20261126101500"),
        ),
        ("backups/20261126/20261126101500/x", ("20261126101500", "x")),
        ("prod/backups/20261127/20261126101500/x", None),  # a date that is not the timestamp's
        ("prod/xbackups/20261126/20261126101500/x", None),
        ("prod/backups/20261126/20261126101500/sub/x", None),
        ("prod/backups/20261126/20261126101500/", None),
        ("prod/backups/20261126/2026112610150/x", None),
    ],
)
def test_backup_file_reads_gpbackups_layout(key: str, found: tuple[str, str] | None) -> None:
    assert backup_file(key) == found


def test_backup_file_inverts_object_key() -> None:
    key = object_key("prod/cluster1", "/data/gpseg0/backups/20261126/20261126101500/gpbackup_0_20261126101500")
    assert backup_file(key) == ("20261126101500", "gpbackup_0_20261126101500")
