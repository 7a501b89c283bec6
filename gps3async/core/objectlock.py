"""S3 Object Lock: the options, the retention each object is written with, and reading what a store kept (pure).

``object_lock_mode`` (``governance`` or ``compliance``) and
``object_lock_retain_days`` lock every object the plugin writes for a backup
until N days after the backup's own timestamp (the 14 digits in its key), so a
backup set expires as a whole, whichever hour each of its files was written.
A key outside a backup's layout (the ``*_directory`` verbs) is locked N days
from now; the plugin's own scratch objects (``gps3async-*`` under the folder)
are not locked.  ``object_lock_bypass_governance`` lets ``delete_backup``
delete governance-mode versions before their date.

gpbackup's timestamps are the coordinator's local time; they are read in this
host's time zone (the cluster's) unless a zone is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from .keys import backup_file

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import tzinfo

__all__ = [
    "LOCK_KEYS",
    "MAX_RETAIN_DAYS",
    "NO_LOCK_FIX",
    "LockSettings",
    "RetainedVersion",
    "key_timestamp",
    "lock_refusal",
    "parse_lock_options",
    "parse_store_date",
    "past_retention",
    "retain_until",
    "retained_summary",
    "retention_problem",
]

LOCK_KEYS = ("object_lock_mode", "object_lock_retain_days", "object_lock_bypass_governance")
#: S3's modes, as its headers spell them.
MODES = ("GOVERNANCE", "COMPLIANCE")
#: A century: S3 takes longer, but a longer value is a typo more likely than a policy.
MAX_RETAIN_DAYS = 36500
#: Scratch objects the plugin writes for itself (probes, ``check``) start with this under the folder.
SCRATCH_PREFIX = "gps3async-"


@dataclass(frozen=True)
class LockSettings:
    """The Object Lock options: ``mode`` (S3's spelling) and ``days`` set together, or neither."""

    mode: str = ""
    days: int = 0
    bypass_governance: bool = False

    @property
    def locks_writes(self) -> bool:
        return bool(self.mode)

    def until_for(self, key: str, folder: str, now: datetime, zone: tzinfo | None = None) -> datetime | None:
        """The retain-until date of a write of ``key``; ``None`` when it is not locked (no mode, or scratch)."""
        if not self.mode:
            return None
        stamp = key_timestamp(key)
        if stamp is not None:
            return retain_until(stamp, self.days, zone)
        if key.startswith(folder.rstrip("/") + "/" + SCRATCH_PREFIX):
            return None
        return (now.astimezone(timezone.utc) + timedelta(days=self.days)).replace(microsecond=0)

    def describe(self) -> str:
        if not self.mode:
            return "no Object Lock retention of its own"
        return f"Object Lock {self.mode} for {self.days} days after each backup's timestamp"


def parse_lock_options(options: Mapping[str, str], problems: list[str]) -> LockSettings:
    """The Object Lock options of a config, each problem appended to ``problems`` as one line."""
    raw_mode = options.get("object_lock_mode", "")
    raw_days = options.get("object_lock_retain_days", "")
    mode = raw_mode.upper()
    if raw_mode and mode not in MODES:
        problems.append(f"object_lock_mode must be governance or compliance, not {raw_mode!r}")
        mode = ""
    days = 0
    if raw_days:
        days = int(raw_days) if raw_days.isdigit() else 0
        if not 1 <= days <= MAX_RETAIN_DAYS:
            problems.append(f"object_lock_retain_days must be a whole number of days from 1 to {MAX_RETAIN_DAYS},"
                            f" not {raw_days!r}")  # fmt: skip
            days = 0
    if raw_mode and not raw_days:
        problems.append("object_lock_mode needs object_lock_retain_days: N (how many days each backup stays locked)")
    if raw_days and not raw_mode:
        problems.append("object_lock_retain_days needs object_lock_mode: governance or compliance")
    raw_bypass = options.get("object_lock_bypass_governance", "").lower()
    if raw_bypass not in ("", "true", "false", "on", "off"):
        problems.append(f"object_lock_bypass_governance must be true or false, not {raw_bypass!r}")
    if not (mode and days):
        mode, days = "", 0
    return LockSettings(mode, days, raw_bypass in ("true", "on"))


def key_timestamp(key: str) -> str | None:
    """The backup timestamp of a key in gpbackup's layout (``.../backups/<date>/<timestamp>/<file>``), or ``None``."""
    found = backup_file(key)
    return found[0] if found is not None else None


def retain_until(timestamp: str, days: int, zone: tzinfo | None = None) -> datetime:
    """``days`` after backup ``timestamp`` (``YYYYMMDDHHMMSS`` in ``zone``, default this host's), in UTC.

    :raises ValueError: when ``timestamp`` is no date and time.
    """
    taken = datetime.strptime(timestamp, "%Y%m%d%H%M%S")
    aware = taken.replace(tzinfo=zone) if zone is not None else taken.astimezone()
    return (aware + timedelta(days=days)).astimezone(timezone.utc)


def past_retention(key: str, until: datetime, now: datetime, days: int) -> str:
    """Why ``key`` cannot be locked until ``until`` (a date already past: S3 takes only future ones), or ``""``."""
    if until > now:
        return ""
    return (
        f"{key}: its backup's timestamp plus object_lock_retain_days ({days}) is {format_date(until)}, already"
        " past, and S3 locks only until a future date; nothing written (raise object_lock_retain_days)"
    )


def parse_store_date(value: object) -> datetime | None:
    """A retain-until date as a store answers it (ISO 8601 text, or a datetime), in UTC; ``None`` when absent."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    text = str(value or "").strip()
    if not text:
        return None
    text = text.replace("Z", "+00:00")
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # more than microseconds: Python 3.9 refuses them
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def retention_problem(mode: str, until: datetime | None, want_mode: str, want_until: datetime) -> str:
    """What is wrong with a retention the store reports, against the one asked for; ``""`` when it holds.

    A longer retention or a stricter mode (compliance for governance) holds: it protects at least as much.
    """
    if until is None or not mode:
        return "no retention"
    if mode.upper() != want_mode and not (mode.upper() == "COMPLIANCE" and want_mode == "GOVERNANCE"):
        return f"mode {mode.upper()}, not {want_mode}"
    if until < want_until - timedelta(seconds=1):  # stores keep whole seconds, some milliseconds
        return f"retained until {format_date(until)}, short of {format_date(want_until)}"
    return ""


def format_date(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RetainedVersion:
    """A version the store would not delete, and the lock that keeps it (empty mode: the store did not say)."""

    key: str
    mode: str
    until: datetime | None


def retained_summary(retained: Sequence[RetainedVersion], *, bypass: bool, shown: int = 3) -> str:
    """One line: how many versions are kept, until when per mode, a few keys, and what would delete them."""
    groups: dict[str, list[RetainedVersion]] = {}
    for version in retained:
        groups.setdefault(version.mode.upper() or "locked", []).append(version)
    parts = []
    for mode, versions in sorted(groups.items()):
        dates = [v.until for v in versions if v.until is not None]
        until = f" until {format_date(max(dates))}" if dates else ""
        if dates and min(dates) != max(dates):
            until = f" until {format_date(min(dates))} to {format_date(max(dates))}"
        parts.append(f"{len(versions)} {mode}{until}")
    unique = sorted(dict.fromkeys(version.key for version in retained))
    names = ", ".join(key.rsplit("/", 1)[-1] for key in unique[:shown])
    names += f" and {len(unique) - shown} more" if len(unique) > shown else ""
    advice = []
    if "COMPLIANCE" in groups:
        advice.append("compliance-mode versions cannot be deleted by anyone before their date")
    if "GOVERNANCE" in groups:
        advice.append("governance-mode versions were refused even with object_lock_bypass_governance"
                      " (needs s3:BypassGovernanceRetention)" if bypass else
                      "governance-mode versions can be deleted with object_lock_bypass_governance: true"
                      " (needs s3:BypassGovernanceRetention)")  # fmt: skip
    return f"{len(retained)} object versions are retained by Object Lock ({', '.join(parts)}: {names}); " + "; ".join(
        advice or ["the store refused to delete them"]
    )


#: What to do when a store refuses Object Lock on a write (the bucket has none, or the store has none).
NO_LOCK_FIX = (
    "object_lock_mode needs a bucket created with Object Lock enabled (S3 ObjectLockEnabledForBucket);"
    " write to such a bucket, or remove object_lock_mode and object_lock_retain_days from the config"
)


def lock_refusal(code: str, status: int, message: str) -> str | None:
    """The fix for a store's refusal of Object Lock (a write's lock headers, PutObjectRetention); ``None`` otherwise.

    A delete refused by a lock (403 "forbidden by object lock") is no refusal of Object Lock: it is the lock working.
    """
    text = message.lower().replace(" ", "")
    if status == 403 or code == "AccessDenied":
        return None
    if "objectlock" in text or "retention" in text or code in ("ObjectLockConfigurationNotFoundError",):
        return NO_LOCK_FIX
    return None
