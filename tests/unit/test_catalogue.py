"""The catalogue's pure parts: backup sets from a listing, retention plans, the verbs' options and output."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gps3async.core.catalogue.options import parse_expire, parse_list
from gps3async.core.catalogue.render import SCHEMA, chain_of, json_document, set_detail, set_table
from gps3async.core.catalogue.retention import ChainRefused, Policy, plan_expiry
from gps3async.core.catalogue.sets import (
    MISSING,
    READ,
    SEALED,
    BackupSet,
    ConfigRead,
    Listed,
    build_sets,
    dependents,
    group_by_set,
    needed_by,
    unfinished_upload,
)
from gps3async.core.errors import UsageError
from gps3async.core.verify.expect import BackupSetConfig, RestorePlanEntry

FOLDER = "prod/c1"
NOW = datetime(2026, 12, 1, 12, 0, 0)


def config(ts: str, *, segments: int = 2, single: bool = False, bases: tuple[str, ...] = (),
           status: str = "Success", metadata_only: bool = False, data_only: bool = False,
           compressed: bool = False) -> BackupSetConfig:  # fmt: skip
    plan = (RestorePlanEntry(ts, ("public.t",)), *(RestorePlanEntry(base, ("public.u",)) for base in bases))
    return BackupSetConfig(ts, single, compressed, "gzip" if compressed else "", segments, data_only, metadata_only,
                           False, bool(bases), plan, status)  # fmt: skip


def files(ts: str, *, segments: int = 2, single: bool = False, oids: tuple[int, ...] = (16384,), ext: str = "",
          metadata_only: bool = False) -> list[str]:  # fmt: skip
    names = [f"gpbackup_{ts}_{suffix}" for suffix in ("config.yaml", "toc.yaml", "metadata.sql", "report",
                                                       "plugin_config.yaml")]  # fmt: skip
    if metadata_only:
        return names
    for content in range(segments):
        if single:
            names += [f"gpbackup_{content}_{ts}{ext}", f"gpbackup_{content}_{ts}_toc.yaml"]
        else:
            names += [f"gpbackup_{content}_{ts}_{oid}{ext}" for oid in oids]
    return names


def listing(ts: str, names: list[str], size: int = 10) -> list[Listed]:
    return [Listed(f"{FOLDER}/backups/{ts[:8]}/{ts}/{name}", size) for name in names]


def read(cfg: BackupSetConfig, database: str = "demo", *, recorded: bool = True) -> ConfigRead:
    return ConfigRead(READ, cfg, database, recorded=recorded)


def one(ts: str, names: list[str], cfg_read: ConfigRead | None) -> BackupSet:
    sets = build_sets(FOLDER, listing(ts, names), {ts: cfg_read} if cfg_read else {})
    assert [backup.timestamp for backup in sets] == [ts]
    return sets[0]


TS = "20261101010000"


@pytest.mark.parametrize(
    ("layout", "dropped"),
    [
        ({}, None),
        ({}, f"gpbackup_1_{TS}_16384"),
        ({}, f"gpbackup_{TS}_metadata.sql"),
        ({"single": True}, None),
        ({"single": True}, f"gpbackup_0_{TS}_toc.yaml"),
        ({"single": True, "ext": ".gz"}, f"gpbackup_1_{TS}.gz"),
        ({"oids": (16384, 16390), "ext": ".gz"}, f"gpbackup_0_{TS}_16390.gz"),
        ({"metadata_only": True}, None),
    ],
)
def test_a_set_is_complete_when_every_file_a_restore_opens_is_listed(layout: dict[str, object],
                                                                       dropped: str | None) -> None:  # fmt: skip
    names = files(TS, **layout)  # type: ignore[arg-type]
    single, metadata_only = bool(layout.get("single")), bool(layout.get("metadata_only"))
    cfg = config(TS, single=single, compressed=layout.get("ext") == ".gz", metadata_only=metadata_only)
    backup = one(TS, [name for name in names if name != dropped], read(cfg))
    assert backup.complete is (dropped is None)
    assert backup.missing == (() if dropped is None else (dropped,))
    assert backup.kind == ("metadata-only" if metadata_only else "full")
    assert (backup.database, backup.status, backup.segment_count, backup.plugin) == ("demo", "Success", 2, "gps3async")


def test_sets_without_a_usable_config_and_their_writers() -> None:
    names = [f"gpbackup_0_{TS}_16384", f"gpbackup_0_{TS}_16384.gps3async-crc32c"]
    failed = one(TS, names, None)
    assert (failed.complete, failed.kind, failed.database, failed.plugin) == (False, "unknown", "", "gps3async")
    assert failed.missing[0].startswith(f"gpbackup_{TS}_config.yaml (gpbackup did not finish")
    assert one(TS, names[:1], None).plugin == "unknown"
    sealed = one(TS, files(TS), ConfigRead(SEALED, encrypted=True))
    assert (sealed.complete, sealed.encrypted, sealed.plugin, sealed.missing) == (None, True, "gps3async", ())
    go = one(TS, files(TS), read(config(TS), recorded=False))
    assert (go.plugin, go.complete) == ("go", True)
    failed_status = one(TS, files(TS), read(config(TS, status="Failure")))
    assert failed_status.missing == ("gpbackup recorded status 'Failure'",)
    wrong = one(TS, files(TS), read(config("20261101010001")))
    assert wrong.missing[0] == "the config names backup 20261101010001" and not wrong.complete


def test_chains_bytes_per_segment_and_what_is_not_a_set() -> None:
    base, inc, orphan = "20261101010000", "20261102010000", "20261103010000"
    items = listing(base, files(base)) + listing(inc, files(inc)) + listing(orphan, files(orphan))
    items += [Listed(f"{FOLDER}/backups/20261104/20261101010000/x", 1), Listed(f"{FOLDER}/other/x", 1),
              Listed(f"{FOLDER}0/backups/20261101/{base}/x", 1)]  # fmt: skip
    configs = {base: read(config(base)), inc: read(config(inc, bases=(base,))),
               orphan: read(config(orphan, bases=("20261001000000",)))}  # fmt: skip
    sets = build_sets(FOLDER, items, configs)
    by_ts = {b.timestamp: b for b in sets}
    assert list(by_ts) == [base, inc, orphan] and set(group_by_set(FOLDER, items)) == {base, inc, orphan}
    assert by_ts[inc].depends_on == (base,) and by_ts[inc].kind == "incremental" and by_ts[inc].complete
    assert needed_by(sets, base) == [inc] and [b.timestamp for b in chain_of(sets, inc)] == [base, inc]
    assert dependents(sets) == {**{ts: needed_by(sets, ts) for ts in by_ts if needed_by(sets, ts)},
                                "20261001000000": [orphan]}  # fmt: skip
    assert by_ts[orphan].missing == ("its base 20261001000000 is not in the bucket",)
    assert by_ts[base].bytes_per_segment() == {-1: 50, 0: 10, 1: 10} and by_ts[base].size == 70
    broken = build_sets(FOLDER, [i for i in items if not i.key.endswith(f"gpbackup_0_{base}_16384")], configs)
    assert [b.missing for b in broken][:2] == [(f"gpbackup_0_{base}_16384",), (f"its base {base} is incomplete",)]


def test_unfinished_upload_age() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    upload = unfinished_upload("k", "id", "2026-12-01 09:30:00+00:00", now)
    assert upload.age_hours == pytest.approx(2.5) and upload.initiated is not None
    assert unfinished_upload("k", "id", "yesterday", now).age_hours is None


# ---------------------------------------------------------------- retention


def stamp(day: int) -> str:
    return (datetime(2026, 1, 1) + timedelta(days=day)).strftime("%Y%m%d%H%M%S")


@st.composite
def catalogues(draw: st.DrawFn) -> list[BackupSet]:
    """Days 0..59, each maybe a full or an incremental (of the latest full of its database, possibly broken)."""
    items: list[Listed] = []
    configs: dict[str, ConfigRead] = {}
    chains: dict[str, list[str]] = {}
    for day in sorted(draw(st.sets(st.integers(0, 59), max_size=14))):
        ts, database = stamp(day), draw(st.sampled_from(["a", "b"]))
        incremental = bool(chains.get(database)) and draw(st.booleans())
        bases = tuple(chains[database]) if incremental else ()
        names = files(ts)
        if draw(st.integers(0, 5)) == 0:
            names = names[1:]  # no config: a failed backup
        elif draw(st.integers(0, 5)) == 0:
            names = names[:-1]  # a data file lost
        items += listing(ts, names)
        if names[0].endswith("config.yaml") and draw(st.integers(0, 7)) == 0:
            configs[ts] = ConfigRead(SEALED, encrypted=True)  # encrypted, no key: what it needs is unknown
        elif names[0].endswith("config.yaml"):
            configs[ts] = read(config(ts, bases=bases), database)
            chains[database] = [*bases, ts] if incremental else [ts]
    return build_sets(FOLDER, items, configs)


policies = st.builds(
    Policy,
    keep_full=st.none() | st.integers(1, 4),
    older_than_days=st.none() | st.floats(0, 400, allow_nan=False),
    before_timestamp=st.none() | st.integers(0, 60).map(stamp),
    cascade=st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(catalogues(), policies)
def test_a_plan_never_breaks_a_kept_chain_nor_deletes_the_newest_full(sets: list[BackupSet], policy: Policy) -> None:
    now = datetime(2026, 12, 1)
    try:
        plan = plan_expiry(sets, policy, now)
    except ChainRefused as err:
        assert "\n" not in str(err)
        assert ("cannot be read" in str(err)) or (not policy.cascade and "--cascade" in str(err))
        return
    doomed = {b.timestamp for b in plan.doomed}
    kept = [b for b in sets if b.timestamp not in doomed]
    assert all(b.config.state in (READ, MISSING) or b.timestamp < min(doomed) for b in kept if doomed)
    assert all(not doomed.intersection(b.depends_on) for b in kept)
    for database in {b.database for b in sets if b.database}:
        fulls = [b.timestamp for b in sets if b.database == database and b.kind == "full" and b.complete]
        assert not fulls or max(fulls) not in doomed
    assert [b.timestamp for b in plan.doomed] == sorted(doomed, reverse=True)
    assert set(plan.cascaded) <= doomed and (policy.cascade or not plan.cascaded)
    for backup in plan.doomed:
        if backup.timestamp in plan.cascaded:
            assert doomed.intersection(backup.depends_on)
            continue
        if policy.older_than_days is not None:
            assert backup.date < now - timedelta(days=policy.older_than_days)
        if policy.before_timestamp is not None:
            assert backup.timestamp < policy.before_timestamp
        if policy.keep_full is not None:
            assert backup.database or backup.config.state == MISSING
            for database in [backup.database] if backup.database else {b.database for b in sets if b.database}:
                newer = [b for b in sets if b.database == database and b.kind == "full" and b.complete
                         and b.timestamp > backup.timestamp]  # fmt: skip
                assert len(newer) >= policy.keep_full
    # Stopped after any number of deletes, no remaining set depends on a deleted one.
    for done in range(len(plan.doomed) + 1):
        gone = {b.timestamp for b in plan.doomed[:done]}
        assert all(not gone.intersection(b.depends_on) for b in sets if b.timestamp not in gone)
    assert plan.objects == sum(len(b.objects) for b in plan.doomed)


def chain_sets() -> list[BackupSet]:
    full1, inc1, full2, inc2 = stamp(0), stamp(1), stamp(10), stamp(11)
    items = [i for ts in (full1, inc1, full2, inc2) for i in listing(ts, files(ts))]
    configs = {full1: read(config(full1)), inc1: read(config(inc1, bases=(full1,))),
               full2: read(config(full2)), inc2: read(config(inc2, bases=(full2,)))}  # fmt: skip
    return build_sets(FOLDER, items, configs)


def test_keep_full_refusals_and_cascade() -> None:
    sets = chain_sets()
    doomed = [b.timestamp for b in plan_expiry(sets, Policy(keep_full=1), NOW).doomed]
    assert doomed == [stamp(1), stamp(0)]
    assert plan_expiry(sets, Policy(keep_full=2), NOW).doomed == ()
    with pytest.raises(ChainRefused, match=rf"\({stamp(1)} needs {stamp(0)}\); add --cascade"):
        plan_expiry(sets, Policy(before_timestamp=stamp(1)), NOW)
    plan = plan_expiry(sets, Policy(before_timestamp=stamp(1), cascade=True), NOW)
    assert [b.timestamp for b in plan.doomed] == [stamp(1), stamp(0)] and plan.cascaded == (stamp(1),)
    everything = plan_expiry(sets, Policy(older_than_days=0), NOW)
    assert [b.timestamp for b in everything.doomed] == [stamp(11), stamp(1), stamp(0)]
    assert everything.protected == (stamp(10),)
    both = plan_expiry(sets, Policy(keep_full=1, before_timestamp=stamp(1), cascade=True), NOW)
    assert [b.timestamp for b in both.doomed] == [stamp(1), stamp(0)]
    assert plan_expiry(sets, Policy(), NOW).doomed == ()


def test_a_kept_set_whose_config_cannot_be_read_stops_older_deletes() -> None:
    full1, inc1, full2 = stamp(0), stamp(1), stamp(10)
    items = [i for ts in (full1, inc1, full2) for i in listing(ts, files(ts))]
    configs = {full1: read(config(full1)), inc1: ConfigRead(SEALED, encrypted=True), full2: read(config(full2))}
    sets = build_sets(FOLDER, items, configs)
    with pytest.raises(ChainRefused, match=rf"kept set\(s\) {stamp(1)} cannot be read"):
        plan_expiry(sets, Policy(keep_full=1, cascade=True), NOW)
    assert [b.timestamp for b in plan_expiry(sets, Policy(older_than_days=0), NOW).doomed] == [inc1, full1]


# ---------------------------------------------------------------- options and output


def test_options() -> None:
    assert parse_list([]) == parse_list([]) and parse_list(["--json", TS]).json is True
    assert parse_list([TS]).timestamp == TS
    options = parse_expire(["--keep-full", "3", "--older-than-days=7.5", "--cascade", "--dry-run"])
    assert options.policy == Policy(keep_full=3, older_than_days=7.5, cascade=True) and options.dry_run
    assert parse_expire(["--unfinished-older-than", "24"]).unfinished_older_than_hours == 24
    assert parse_expire(["--before-timestamp", TS]).policy.before_timestamp == TS
    for bad, says in [
        ([], "expire needs a policy"), (["--cascade"], "expire needs a policy"), (["--keep-full"], "needs a value"),
        (["--keep-full", "0"], "at least 1"), (["--keep-full", "1.5"], "whole number"),
        (["--older-than-days", "-1"], "at least 0"), (["--older-than-days", "nan"], "at least 0"),
        (["--before-timestamp", "2026"], "14 digits"), (["--keep-full", "1", "--keep-full", "2"], "given twice"),
        (["--dry-run", "--dry-run", "--keep-full", "1"], "unexpected expire argument '--dry-run'"),
        (["--keep", "1"], "unexpected expire argument"),
    ]:  # fmt: skip
        with pytest.raises(UsageError, match=says):
            parse_expire(bad)
    for bad in (["--deep"], [TS, TS], ["2026"], ["--json", "--json"]):
        with pytest.raises(UsageError):
            parse_list(bad)


def test_json_and_table() -> None:
    sets = chain_sets()
    upload = unfinished_upload(f"{FOLDER}/x", "id", "2026-12-01 09:30:00+00:00",
                               datetime(2026, 12, 1, 12, tzinfo=timezone.utc))  # fmt: skip
    document = json.loads(json_document("b", FOLDER, sets, sets, [upload], None))
    assert document["schema"] == SCHEMA and len(document["sets"]) == 4
    first = document["sets"][0]
    assert set(first) == {"timestamp", "date", "database", "type", "depends_on", "needed_by", "status",
                          "segment_count", "objects", "bytes", "complete", "missing", "encrypted", "plugin",
                          "config", "prefix", "bytes_per_segment", "retention"}  # fmt: skip
    assert first["needed_by"] == [stamp(1)] and first["date"] == "2026-01-01T00:00:00"
    assert document["unfinished_uploads"] == [{"key": f"{FOLDER}/x", "upload_id": "id",
                                               "initiated": "2026-12-01T09:30:00+00:00", "age_hours": 2.5}]  # fmt: skip
    table = set_table(sets, [], "s3://b/prod/c1/").splitlines()
    assert len(table) == 7 and table[-2] == "no unfinished multipart uploads under s3://b/prod/c1/"
    assert table[-1] == "4 sets, 28 objects, 280 bytes; 0 incomplete or unknown; 0 unfinished uploads"
    detail = set_detail(sets[1], sets, [], "s3://b/x/")
    assert f"needs:      {stamp(0)} (full, complete: yes)" in detail and "  segment 1   10" in detail
    missing = build_sets(FOLDER, listing(TS, files(TS)[1:]), {})
    assert missing[0].config.state == MISSING and "is incomplete: gpbackup_" in set_table(missing, [], "w")
