"""Object Lock in the catalogue (pure): which object tells a set's retention, and what ``expire`` must keep.

``list`` reads the retention of ONE object per set (its
``gpbackup_<TS>_config.yaml``, the object every finished set has; a set
without one: its first object), only when the config has Object Lock options
or the bucket reports Object Lock enabled.  Every object of a set written by
this plugin is locked until the same date (its timestamp plus
``object_lock_retain_days``), so one object speaks for the set; a set whose
other objects are locked longer (a bucket default retention, a re-upload) is
still refused honestly by the delete itself.

``expire`` keeps a selected set whose retention is still running (unless it is
governance mode and ``object_lock_bypass_governance`` is set), and every set a
kept retained set depends on, so a retained incremental never loses its base.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..errors import GpS3Error
from ..objectlock import format_date
from .sets import BackupSet, Listed, config_name

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from .retention import ExpiryPlan

__all__ = ["Held", "RetainedSets", "Retention", "hold_retained", "retained_error", "retention_key", "with_retention"]


@dataclass(frozen=True)
class Retention:
    """The Object Lock retention of the object that speaks for a set (empty mode: none)."""

    mode: str
    until: datetime | None

    def running(self, now: datetime) -> bool:
        """Whether the lock still forbids deleting the object at ``now`` (aware)."""
        return bool(self.mode) and self.until is not None and self.until > now

    def describe(self) -> str:
        if not self.mode or self.until is None:
            return "none"
        return f"{self.mode.upper()} until {format_date(self.until)}"


class RetainedSets(GpS3Error):
    """``expire`` selected sets that Object Lock still retains: they were kept, and the call fails."""

    exit_code = 1


@dataclass(frozen=True)
class Held:
    """A set the policy selected that ``expire`` keeps: retained itself, or the base of a retained set."""

    backup: BackupSet
    #: The retained set that keeps it (itself when it is retained).
    because: BackupSet

    def line(self, *, dry_run: bool) -> str:
        until = self.because.retention.describe() if self.because.retention is not None else "?"
        verb = "would keep" if dry_run else "not deleting"
        if self.because.timestamp == self.backup.timestamp:
            return f"{verb} set {self.backup.timestamp}: retained by Object Lock, {until}"
        return f"{verb} set {self.backup.timestamp}: retained set {self.because.timestamp} depends on it ({until})"


def retention_key(prefix: str, timestamp: str, objects: Sequence[Listed]) -> str:
    """The object whose retention ``list`` reads for a set: its config file, else its first object."""
    wanted = prefix + config_name(timestamp)
    keys = sorted(item.key for item in objects)
    return wanted if wanted in keys else keys[0]


def with_retention(sets: Sequence[BackupSet], found: Mapping[str, Retention]) -> list[BackupSet]:
    """``sets`` with the retention read for each (by timestamp)."""
    return [replace(backup, retention=found.get(backup.timestamp)) for backup in sets]


def hold_retained(plan: ExpiryPlan, now: datetime, *, bypass_governance: bool) -> tuple[ExpiryPlan, list[Held]]:
    """``plan`` without the sets Object Lock still retains at ``now`` and the bases those depend on.

    A governance-mode lock does not hold a set when ``bypass_governance`` is set: the delete bypasses it.
    """

    def retained(backup: BackupSet) -> bool:
        lock = backup.retention
        if lock is None or not lock.running(now):
            return False
        return not (bypass_governance and lock.mode.upper() == "GOVERNANCE")

    by_ts = {backup.timestamp: backup for backup in plan.doomed}
    held: dict[str, Held] = {}
    for backup in sorted(plan.doomed, key=lambda b: b.timestamp, reverse=True):  # dependents before their bases
        because = backup if retained(backup) else None
        if because is None:
            keepers = [held[ts].because for ts in held if backup.timestamp in by_ts[ts].depends_on]
            because = keepers[0] if keepers else None
        if because is not None:
            held[backup.timestamp] = Held(backup, because)
    if not held:
        return plan, []
    doomed = tuple(backup for backup in plan.doomed if backup.timestamp not in held)
    cascaded = tuple(ts for ts in plan.cascaded if ts not in held)
    kept = replace(plan, doomed=doomed, cascaded=cascaded)
    return kept, sorted(held.values(), key=lambda h: h.backup.timestamp)


def retained_error(held: Sequence[Held]) -> RetainedSets:
    """The one stderr line of an ``expire`` that kept retained sets."""
    shown = ", ".join(
        f"{h.backup.timestamp} ({h.because.retention.describe() if h.because.retention else '?'})" for h in held[:3]
    )
    more = f" and {len(held) - 3} more" if len(held) > 3 else ""
    return RetainedSets(
        f"expire: {len(held)} selected sets are retained by Object Lock (or needed by one that is) and were not "
        f"deleted: {shown}{more}; they can go once their retention ends"
    )
