"""The Object Lock options and retention arithmetic (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gps3async.core.configfile import parse_config
from gps3async.core.errors import ConfigError
from gps3async.core.objectlock import (
    LockSettings,
    RetainedVersion,
    key_timestamp,
    lock_refusal,
    parse_store_date,
    retain_until,
    retained_summary,
    retention_problem,
)
from tests.unit.test_config import config_with

UTC = timezone.utc
PLUS_TWO = timezone(timedelta(hours=2))
WHOLE_DAYS = "object_lock_retain_days must be a whole number"


def test_options_parse_to_s3_modes_and_default_to_none() -> None:
    assert parse_config(config_with()).object_lock == LockSettings()
    settings = parse_config(config_with(object_lock_mode="Governance", object_lock_retain_days="30")).object_lock
    assert settings == LockSettings("GOVERNANCE", 30, False) and settings.locks_writes
    bypass = parse_config(config_with(object_lock_bypass_governance="true")).object_lock
    assert bypass == LockSettings("", 0, True) and not bypass.locks_writes


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"object_lock_mode": "strict", "object_lock_retain_days": "3"}, "object_lock_mode must be governance or"),
        ({"object_lock_mode": "compliance"}, "object_lock_mode needs object_lock_retain_days: N"),
        ({"object_lock_retain_days": "7"}, "object_lock_retain_days needs object_lock_mode"),
        ({"object_lock_mode": "compliance", "object_lock_retain_days": "0"}, WHOLE_DAYS),
        ({"object_lock_mode": "compliance", "object_lock_retain_days": "1.5"}, WHOLE_DAYS),
        ({"object_lock_bypass_governance": "yes"}, "object_lock_bypass_governance must be true or false"),
    ],
)
def test_bad_lock_options_get_one_line_each(options: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_with(**options), "cfg.yaml")
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(problem), caught.value.problems


def test_retain_until_is_days_after_the_backup_timestamp_in_its_zone() -> None:
    assert retain_until("20261126101500", 30, UTC) == datetime(2026, 12, 26, 10, 15, tzinfo=UTC)
    assert retain_until("20261126101500", 1, PLUS_TWO) == datetime(2026, 11, 27, 8, 15, tzinfo=UTC)
    with pytest.raises(ValueError):
        retain_until("20261341101500", 1, UTC)


def test_keys_of_a_backup_lock_from_its_timestamp_scratch_keys_not_at_all_others_from_now() -> None:
    lock = LockSettings("COMPLIANCE", 10)
    now = datetime(2027, 1, 1, 12, 0, 0, 123, tzinfo=UTC)
    key = "prod/backups/20261126/20261126101500/gpbackup_0_20261126101500_16384.gz"
    assert key_timestamp(key) == "20261126101500"
    assert key_timestamp("prod/backups/20261127/20261126101500/x") is None  # a date that is not the timestamp's
    assert lock.until_for(key, "prod", now, UTC) == datetime(2026, 12, 6, 10, 15, tzinfo=UTC)
    assert lock.until_for("prod/gps3async-probe-ab12/crc32c", "prod", now) is None
    assert lock.until_for("data/dir/file", "prod", now) == datetime(2027, 1, 11, 12, 0, 0, tzinfo=UTC)
    assert LockSettings().until_for(key, "prod", now) is None


def test_store_dates_and_retention_problems() -> None:
    want = datetime(2026, 12, 6, 10, 15, tzinfo=UTC)
    assert parse_store_date("2026-12-06T10:15:00.000Z") == want
    assert parse_store_date("2026-12-06T10:15:00.123456789Z") == want + timedelta(microseconds=123456)
    assert parse_store_date("") is None and parse_store_date(None) is None and parse_store_date("soon") is None
    assert retention_problem("GOVERNANCE", want, "GOVERNANCE", want) == ""
    assert retention_problem("COMPLIANCE", want + timedelta(days=1), "GOVERNANCE", want) == ""  # stricter, longer
    assert retention_problem("", None, "GOVERNANCE", want) == "no retention"
    assert retention_problem("GOVERNANCE", want, "COMPLIANCE", want) == "mode GOVERNANCE, not COMPLIANCE"
    assert "short of 2026-12-06T10:15:00Z" in retention_problem(
        "GOVERNANCE", want - timedelta(hours=1), "GOVERNANCE", want
    )


def test_retained_summary_says_until_when_and_what_would_delete_them() -> None:
    until = datetime(2026, 12, 6, 10, 15, tzinfo=UTC)
    kept = [RetainedVersion(f"f/backups/20261126/20261126101500/file{n}", "COMPLIANCE", until) for n in range(5)]
    line = retained_summary(kept, bypass=False)
    assert line.startswith("5 object versions are retained by Object Lock (5 COMPLIANCE until 2026-12-06T10:15:00Z:")
    assert "file0, file1, file2 and 2 more" in line and "cannot be deleted by anyone before their date" in line
    governed = [RetainedVersion("f/a", "GOVERNANCE", until)]
    assert "with object_lock_bypass_governance: true" in retained_summary(governed, bypass=False)
    assert "refused even with object_lock_bypass_governance" in retained_summary(governed, bypass=True)
    assert "\n" not in line


def test_lock_refusals_name_the_fix_but_a_lock_at_work_is_none() -> None:
    assert "created with Object Lock enabled" in str(
        lock_refusal("InvalidRequest", 400, "Bucket is missing Object Lock Configuration")
    )
    assert lock_refusal("AccessDenied", 403, "forbidden by object lock") is None
    assert lock_refusal("InvalidDigest", 400, "bad digest") is None


def test_a_store_refusing_a_locked_write_without_a_digest_says_so_and_names_the_option() -> None:
    from botocore.exceptions import ClientError

    from gps3async.core.errors import ModeRefused
    from gps3async.core.storemodes.settings import StoreModes
    from gps3async.s3.errors import translate

    message = (
        "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests with Object Lock parameters"
    )
    answer = {"Error": {"Code": "InvalidRequest", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}
    err = translate(ClientError(answer, "PutObject"), "PutObject s3://b/k", StoreModes("signed", "none"))
    assert isinstance(err, ModeRefused) and err.fix == "set upload_checksum: md5"
    assert "S3 requires a digest on a write with Object Lock headers" in str(err)


def test_a_lock_ending_in_the_past_is_named_with_its_date() -> None:
    from gps3async.core.objectlock import past_retention

    now = datetime(2026, 12, 6, tzinfo=UTC)
    assert past_retention("s3://b/k", now + timedelta(seconds=1), now, 3) == ""
    line = past_retention("s3://b/k", datetime(2020, 1, 5, tzinfo=UTC), now, 3)
    assert line.startswith("s3://b/k: its backup's timestamp plus object_lock_retain_days (3) is 2020-01-05T00:00:00Z")
