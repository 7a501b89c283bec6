"""Which files a backup set must hold, from gpbackup's config and TOC files, and how findings are worded (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
import yaml

from gps3async.core.verify.expect import (
    Expected,
    UnreadableFile,
    coordinator_files,
    data_files,
    parse_backup_config,
    parse_toc,
    plan_files,
)
from gps3async.core.verify.findings import Finding, Kind, Record, Tally, listed_finding, no_record_reason

TS = "20261203101500"
BASE = "20261201101500"


def config_text(**fields: object) -> str:
    document: dict[str, object] = {
        "backupdir": "", "backupversion": "1.30.5", "compressed": False, "compressiontype": "", "databasename": "d",
        "segmentcount": 2, "dataonly": False, "incremental": False, "metadataonly": False, "singledatafile": False,
        "restoreplan": [{"timestamp": TS, "tablefqns": ["public.a", "public.b"]}], "timestamp": TS,
        "withstatistics": False, "status": "Success",
    }  # fmt: skip
    document.update(fields)
    return yaml.safe_dump(document)


def toc_text(*tables: tuple[str, int], replicated: tuple[int, ...] = ()) -> str:
    entries = [
        {"schema": "public", "name": name, "oid": oid, "attributestring": "(a)", "rowscopied": 1,
         "partitionroot": "", "isreplicated": oid in replicated, "distbyenum": False}
        for name, oid in tables
    ]  # fmt: skip
    return yaml.safe_dump({"predataentries": [], "dataentries": entries})


def names(expected: Sequence[Expected]) -> set[str]:
    return {item.name for item in expected}


def test_per_table_backup_needs_every_table_on_every_segment_replicated_too() -> None:
    config = parse_backup_config(config_text(compressed=True, compressiontype="zstd"))
    toc = parse_toc(toc_text(("a", 16384), ("b", 16385), replicated=(16385,)))
    plan = plan_files(config, {TS: toc})
    assert names(plan.wanted) == {
        f"gpbackup_{TS}_config.yaml", f"gpbackup_{TS}_toc.yaml", f"gpbackup_{TS}_metadata.sql",
        f"gpbackup_{TS}_report", f"gpbackup_{TS}_plugin_config.yaml",
        f"gpbackup_0_{TS}_16384.zst", f"gpbackup_1_{TS}_16384.zst",
        f"gpbackup_0_{TS}_16385.zst", f"gpbackup_1_{TS}_16385.zst",
    }  # fmt: skip
    assert [item.role for item in plan.wanted if item.name == f"gpbackup_1_{TS}_16385.zst"] == [
        "segment 1 data of public.b (replicated)"
    ]
    assert plan.unread == () and plan.unmatched == ()


def test_single_data_file_needs_one_file_and_one_toc_per_segment_and_old_gzip_backups_have_no_type() -> None:
    config = parse_backup_config(config_text(singledatafile=True, compressed=True, compressiontype="", segmentcount=3))
    wanted = data_files(config, TS, parse_toc(toc_text(("a", 1), ("b", 2))))
    assert names(wanted) == {f"gpbackup_{c}_{TS}{suffix}" for c in range(3) for suffix in (".gz", "_toc.yaml")}
    assert {item.name for item in wanted if item.data} == {f"gpbackup_{c}_{TS}.gz" for c in range(3)}


def test_metadata_only_has_no_data_files_and_statistics_only_with_stats() -> None:
    config = parse_backup_config(config_text(metadataonly=True, withstatistics=True, restoreplan=[]))
    plan = plan_files(config, {TS: parse_toc(toc_text(("a", 1)))})
    assert not any(item.data for item in plan.wanted)
    assert f"gpbackup_{TS}_statistics.sql" in names(plan.wanted)
    assert f"gpbackup_{TS}_statistics.sql" not in names(coordinator_files(parse_backup_config(config_text())))


def test_data_only_still_needs_the_metadata_file() -> None:
    """gprestore restores the metadata file in every case (it holds the session GUCs)."""
    config = parse_backup_config(config_text(dataonly=True))
    assert f"gpbackup_{TS}_metadata.sql" in names(coordinator_files(config))


def test_incremental_needs_the_tables_it_takes_from_earlier_backups() -> None:
    plan_entries = [{"timestamp": BASE, "tablefqns": ["public.a", "public.gone"]},
                    {"timestamp": TS, "tablefqns": ["public.b"]}]  # fmt: skip
    config = parse_backup_config(config_text(incremental=True, restoreplan=plan_entries))
    tocs = {TS: parse_toc(toc_text(("b", 2))), BASE: parse_toc(toc_text(("a", 1), ("c", 3)))}
    plan = plan_files(config, tocs)
    assert {(item.timestamp, item.name) for item in plan.wanted if item.data} == {
        (BASE, f"gpbackup_0_{BASE}_1"), (BASE, f"gpbackup_1_{BASE}_1"),
        (TS, f"gpbackup_0_{TS}_2"), (TS, f"gpbackup_1_{TS}_2"),
    }  # fmt: skip
    assert (BASE, f"gpbackup_{BASE}_toc.yaml") in {(item.timestamp, item.name) for item in plan.wanted}
    assert plan.unmatched == ((BASE, "public.gone"),)
    assert plan_files(config, {TS: tocs[TS]}).unread == (BASE,)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("singledatafile: [", "not valid YAML at line 1"),
        ("- a\n- b\n", "not a YAML mapping"),
        ("timestamp: 2026\n", "not 14 digits"),
        (config_text(singledatafile="yes"), "singledatafile is 'yes'"),
        (config_text(segmentcount=-1), "segmentcount is -1"),
        (config_text(restoreplan=["x"]), "restoreplan entry"),
    ],
)
def test_a_config_gprestore_could_not_read_says_why(text: str, needle: str) -> None:
    with pytest.raises(UnreadableFile, match=needle):
        parse_backup_config(text)


def test_a_toc_without_oids_is_unreadable() -> None:
    with pytest.raises(UnreadableFile, match="TOC data entry"):
        parse_toc(yaml.safe_dump({"dataentries": [16384]}))


def test_listed_size_against_the_record() -> None:
    record = Record(0x12345678, 100, "companion")
    assert listed_finding("s3://b/k", 100, record, '"e"') is None
    size = listed_finding("s3://b/k", 99, record, '"e"')
    assert size is not None and size.kind is Kind.SIZE and size.problem
    assert size.line() == "SIZE       s3://b/k: 99 bytes in the bucket, 100 recorded at backup"
    assert size.log_line().endswith("(expected 100 bytes, CRC-32C EjRWeA== (from its companion); seen 99 bytes listed)")
    unchecked = listed_finding("s3://b/k", 5, None, '"0123abcd-3"')
    assert unchecked is not None and not unchecked.problem and "as a multipart upload" in unchecked.detail
    assert "multipart" not in no_record_reason('"0123abcd"') and "content unchecked" in no_record_reason("", deep=True)


def test_summary_counts_and_rate() -> None:
    tally = Tally(objects=3, bytes=3_000_000, checked=2, unchecked=1, problems=1, read_bytes=3_000_000)
    assert tally.summary(TS, 2.0, deep=True) == (
        f"verify {TS} --deep: 3 objects, 3000000 bytes; 2 checked, 1 unchecked, 1 problem; 2.00 s; "
        "read 3000000 bytes at 1.5 MB/s"
    )
    assert "MB/s" not in tally.summary(TS, 2.0, deep=False)
    assert Finding(Kind.MISSING, "s3://b/k", "gone").log_line() == "MISSING    s3://b/k: gone"


def test_counting_findings_an_object_with_a_problem_is_not_checked_and_a_missing_one_is_not_an_object() -> None:
    findings = [
        Finding(Kind.CORRUPT, "s3://b/a", "bad"),
        Finding(Kind.CORRUPT, "s3://b/a", "worse"),
        Finding(Kind.MISSING, "s3://b/gone", "gone"),
        Finding(Kind.UNCHECKED, "s3://b/go", "no record"),
    ]
    tally = Tally(objects=4)
    tally.count(findings, {"s3://b/a", "s3://b/go", "s3://b/c", "s3://b/d"})
    assert (tally.problems, tally.unchecked, tally.checked) == (3, 1, 2)
