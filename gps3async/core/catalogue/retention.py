"""What an ``expire`` policy deletes (pure): the sets it selects, never one a kept set needs.

Each given policy selects sets; a set goes only when every given policy
selects it (``--keep-full 4 --older-than-days 30``: beyond the four newest
full backups of its database *and* older than 30 days):

- ``keep_full N``: per database, the sets older than its N-th newest
  complete full backup (incrementals of the N kept ones are newer, so they
  stay); a set without its config file (a failed backup, or one an
  interrupted expire began deleting) when it is older than every
  database's N-th newest complete full; an encrypted set whose config
  cannot be opened without the key, never;
- ``older_than_days D``: sets whose timestamp is more than D days before now;
- ``before_timestamp TS``: sets whose timestamp is earlier than TS.

Then the guards.  The newest complete full backup of each database is never
deleted.  A kept set whose config cannot be read (encrypted with no key
configured) may depend on anything older: the plan is refused, cascade or
not, when it would delete an older set.  A set that a kept set depends on (its restore plan takes data from
it) is never deleted either: the plan is refused naming the dependents, or
with ``cascade`` the dependents go too (and theirs, to the end).  Sets are
deleted newest first (dependents before their bases), so a run stopped half
way leaves no remaining set depending on a deleted one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ..errors import UsageError
from .sets import FULL, MISSING, READ, BackupSet

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["ChainRefused", "ExpiryPlan", "Policy", "plan_expiry"]


class ChainRefused(UsageError):
    """The policy would delete a set that a kept set depends on, and ``cascade`` was not given."""

    exit_code = 1


@dataclass(frozen=True)
class Policy:
    keep_full: int | None = None
    older_than_days: float | None = None
    before_timestamp: str | None = None
    cascade: bool = False

    @property
    def selects_sets(self) -> bool:
        return self.keep_full is not None or self.older_than_days is not None or self.before_timestamp is not None


@dataclass(frozen=True)
class ExpiryPlan:
    """The sets to delete, in deletion order (newest first), and which of them only ``cascade`` added."""

    doomed: tuple[BackupSet, ...]
    cascaded: tuple[str, ...]
    #: Sets the policy selected that were kept as their database's newest complete full backup.
    protected: tuple[str, ...]

    @property
    def objects(self) -> int:
        return sum(len(backup.objects) for backup in self.doomed)

    @property
    def size(self) -> int:
        return sum(backup.size for backup in self.doomed)


def _is_complete_full(backup: BackupSet) -> bool:
    return backup.kind == FULL and backup.complete is True


def _keep_full_selects(sets: Sequence[BackupSet], count: int) -> set[str]:
    fulls: dict[str, list[str]] = defaultdict(list)
    for backup in sets:
        if backup.database and _is_complete_full(backup):
            fulls[backup.database].append(backup.timestamp)
    selected = set()
    oldest: list[str] = []
    for database, timestamps in fulls.items():
        kept = sorted(timestamps, reverse=True)[:count]
        if len(kept) == count:
            oldest.append(kept[-1])
            selected |= {b.timestamp for b in sets if b.database == database and b.timestamp < kept[-1]}
    if oldest and len(oldest) == len({b.database for b in sets if b.database}):
        # A set without its config (a failed backup, or one an interrupted expire left) has no database:
        # it goes once it is older than every database's oldest kept full, so it cannot be one still running.
        selected |= {b.timestamp for b in sets if b.config.state == MISSING and b.timestamp < min(oldest)}
    return selected


def _selected(sets: Sequence[BackupSet], policy: Policy, now: datetime) -> set[str]:
    selected = {backup.timestamp for backup in sets}
    if policy.keep_full is not None:
        selected &= _keep_full_selects(sets, policy.keep_full)
    if policy.older_than_days is not None:
        cutoff = now - timedelta(days=policy.older_than_days)
        selected &= {backup.timestamp for backup in sets if backup.date < cutoff}
    if policy.before_timestamp is not None:
        selected &= {backup.timestamp for backup in sets if backup.timestamp < policy.before_timestamp}
    return selected


def plan_expiry(sets: Sequence[BackupSet], policy: Policy, now: datetime) -> ExpiryPlan:
    """The sets ``policy`` deletes from ``sets`` at ``now`` (naive, the coordinator's local time).

    :raises ChainRefused: one line naming the kept sets that depend on a selected one (without ``cascade``).
    """
    if not policy.selects_sets:
        return ExpiryPlan((), (), ())
    selected = _selected(sets, policy, now)
    newest_full: dict[str, str] = {}
    for backup in sets:
        if backup.database and _is_complete_full(backup):
            newest_full[backup.database] = max(newest_full.get(backup.database, ""), backup.timestamp)
    protected = selected & set(newest_full.values())
    selected -= protected
    _refuse_unknown_chains(sets, selected)
    cascaded: set[str] = set()
    while True:
        dependents = {
            backup.timestamp
            for backup in sets
            if backup.timestamp not in selected and selected.intersection(backup.depends_on)
        }
        if not dependents:
            break
        if not policy.cascade:
            _refuse(sets, selected, dependents)
        # A dependent cannot be a full backup (fulls depend on nothing), so the newest fulls stay protected.
        selected |= dependents
        cascaded |= dependents
    doomed = sorted((backup for backup in sets if backup.timestamp in selected), key=lambda b: b.timestamp)
    return ExpiryPlan(tuple(reversed(doomed)), tuple(sorted(cascaded)), tuple(sorted(protected)))


def _refuse(sets: Sequence[BackupSet], selected: set[str], dependents: set[str]) -> None:
    needs = []
    for backup in sets:
        if backup.timestamp in dependents:
            bases = ", ".join(sorted(selected.intersection(backup.depends_on)))
            needs.append(f"{backup.timestamp} needs {bases}")
    raise ChainRefused(
        f"refusing to expire: kept sets depend on sets the policy selects ({'; '.join(needs)}); "
        "add --cascade to delete those dependents too, or change the policy"
    )


def _refuse_unknown_chains(sets: Sequence[BackupSet], selected: set[str]) -> None:
    """A kept set whose config could not be read (encrypted with no key, unreadable) may depend on any
    older selected set: what it needs is unknown, so nothing older than it may go."""
    if not selected:
        return
    oldest = min(selected)
    unknown = [b.timestamp for b in sets if b.timestamp not in selected and b.config.state not in (READ, MISSING)
               and b.timestamp > oldest]  # fmt: skip
    if unknown:
        raise ChainRefused(
            f"refusing to expire: the config of kept set(s) {', '.join(unknown)} cannot be read (encrypted with no "
            "key configured, or unreadable), so which sets they depend on is unknown; configure the key, or "
            "choose a policy that selects them or nothing older"
        )
