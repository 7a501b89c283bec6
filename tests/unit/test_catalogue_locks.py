"""Object Lock in the catalogue (pure): the object that speaks for a set, the column, what ``expire`` keeps."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from gps3async.core.catalogue.locks import Retention, hold_retained, retained_error, retention_key, with_retention
from gps3async.core.catalogue.render import json_document, set_detail, set_table
from gps3async.core.catalogue.retention import Policy, plan_expiry
from gps3async.core.catalogue.sets import Listed
from tests.unit.test_catalogue import FOLDER, NOW, chain_sets, stamp

NOW_UTC = datetime(2026, 6, 1, tzinfo=timezone.utc)
LATER = NOW_UTC + timedelta(days=1)


def test_the_config_file_speaks_for_a_set_else_its_first_object() -> None:
    ts = stamp(0)
    prefix = f"{FOLDER}/backups/{ts[:8]}/{ts}/"
    config = Listed(f"{prefix}gpbackup_{ts}_config.yaml", 1)
    data = [Listed(f"{prefix}gpbackup_1_{ts}_16384", 1), Listed(f"{prefix}gpbackup_0_{ts}_16384", 1)]
    assert retention_key(prefix, ts, [*data, config]) == config.key
    assert retention_key(prefix, ts, data) == f"{prefix}gpbackup_0_{ts}_16384"


def test_the_column_the_detail_and_the_json_field_only_where_a_lock_was_read() -> None:
    plain = chain_sets()
    assert "RETAINED UNTIL" not in set_table(plain, [], "w") and "retention:" not in set_detail(
        plain[0], plain, [], "u"
    )
    locked = with_retention(plain, {stamp(0): Retention("GOVERNANCE", LATER), stamp(1): Retention("", None)})
    table = set_table(locked, [], "w").splitlines()
    assert table[0].endswith("RETAINED UNTIL") and table[1].endswith("2026-06-02T00:00:00Z")
    assert table[2].endswith(" -") and table[3].endswith(" -")  # no retention; not read
    assert "retention:  GOVERNANCE until 2026-06-02T00:00:00Z" in set_detail(locked[0], locked, [], "u")
    assert "retention:  none" in set_detail(locked[1], locked, [], "u")
    assert "retention:" not in set_detail(locked[2], locked, [], "u")
    fields = [e["retention"] for e in json.loads(json_document("b", FOLDER, locked, locked, [], None))["sets"]]
    assert fields == [{"mode": "GOVERNANCE", "retain_until": "2026-06-02T00:00:00Z"}, None, None, None]


def test_expire_keeps_retained_sets_and_the_bases_they_need() -> None:
    sets = chain_sets()
    plan = plan_expiry(sets, Policy(keep_full=1), NOW)  # the first full and its incremental
    assert [b.timestamp for b in plan.doomed] == [stamp(1), stamp(0)]
    assert hold_retained(plan, NOW_UTC, bypass_governance=False) == (plan, [])  # nothing read: nothing held

    over = with_retention(sets, {stamp(1): Retention("COMPLIANCE", NOW_UTC - timedelta(seconds=1))})
    kept, held = hold_retained(plan_expiry(over, Policy(keep_full=1), NOW), NOW_UTC, bypass_governance=False)
    assert held == [] and len(kept.doomed) == 2, "a retention that is over holds nothing"

    # The incremental retained: its base stays with it, whatever the base's own lock.
    inc = with_retention(sets, {stamp(1): Retention("GOVERNANCE", LATER)})
    kept, held = hold_retained(plan_expiry(inc, Policy(keep_full=1), NOW), NOW_UTC, bypass_governance=False)
    assert kept.doomed == () and kept.objects == 0
    lines = [h.line(dry_run=True) for h in held]
    until = "GOVERNANCE until 2026-06-02T00:00:00Z"
    assert lines == [f"would keep set {stamp(0)}: retained set {stamp(1)} depends on it ({until})",
                     f"would keep set {stamp(1)}: retained by Object Lock, {until}"]  # fmt: skip
    error = retained_error(held)
    assert error.exit_code == 1 and str(error).startswith("expire: 2 selected sets are retained by Object Lock")
    assert "\n" not in str(error)

    # Only the base retained: the incremental may go, the base stays.
    base = with_retention(sets, {stamp(0): Retention("GOVERNANCE", LATER)})
    kept, held = hold_retained(plan_expiry(base, Policy(keep_full=1), NOW), NOW_UTC, bypass_governance=False)
    assert [b.timestamp for b in kept.doomed] == [stamp(1)] and [h.backup.timestamp for h in held] == [stamp(0)]
    assert held[0].line(dry_run=False).startswith(f"not deleting set {stamp(0)}: retained by Object Lock")

    # The bypass deletes governance-mode versions, never compliance-mode ones.
    kept, held = hold_retained(plan_expiry(base, Policy(keep_full=1), NOW), NOW_UTC, bypass_governance=True)
    assert held == [] and len(kept.doomed) == 2
    strict = with_retention(sets, {stamp(0): Retention("COMPLIANCE", LATER)})
    kept, held = hold_retained(plan_expiry(strict, Policy(keep_full=1), NOW), NOW_UTC, bypass_governance=True)
    assert [h.backup.timestamp for h in held] == [stamp(0)]
