"""The command lines of ``list`` and ``expire`` (pure): each bad one is one :class:`UsageError` line."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import UsageError
from ..keys import validate_timestamp
from .retention import Policy

__all__ = ["EXPIRE_USAGE", "LIST_USAGE", "ExpireOptions", "ListOptions", "parse_expire", "parse_list"]

LIST_USAGE = "CONFIG [TIMESTAMP] [--json]"
EXPIRE_USAGE = (
    "CONFIG [--keep-full N] [--older-than-days D] [--before-timestamp TS] [--cascade] [--dry-run] "
    "[--unfinished-older-than HOURS]"
)


@dataclass(frozen=True)
class ListOptions:
    timestamp: str | None = None
    json: bool = False


@dataclass(frozen=True)
class ExpireOptions:
    policy: Policy
    dry_run: bool = False
    unfinished_older_than_hours: float | None = None


def parse_list(args: list[str]) -> ListOptions:
    """``args`` after CONFIG. :raises UsageError: for anything but one timestamp and ``--json``."""
    timestamp, as_json = None, False
    for arg in args:
        if arg == "--json" and not as_json:
            as_json = True
        elif not arg.startswith("-") and timestamp is None:
            timestamp = validate_timestamp(arg)
        else:
            raise UsageError(f"unexpected list argument {arg!r}; usage: gpbackup_s3_plugin list {LIST_USAGE}")
    return ListOptions(timestamp, as_json)


def _number(option: str, raw: str, *, whole: bool) -> float:
    try:
        value = float(int(raw)) if whole else float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < (1 if whole else 0):
        kind = "a whole number of at least 1" if whole else "a number of at least 0"
        raise UsageError(f"{option} needs {kind}, not {raw!r}")
    return value


def parse_expire(args: list[str]) -> ExpireOptions:
    """``args`` after CONFIG.

    :raises UsageError: for an unknown, repeated or valueless option, a bad
        value, or no policy at all (nothing to expire by).
    """
    values: dict[str, str] = {}
    flags: set[str] = set()
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, _, inline = arg.partition("=")
        if name in ("--keep-full", "--older-than-days", "--before-timestamp", "--unfinished-older-than"):
            if name in values:
                raise UsageError(f"{name} given twice")
            if not inline and not rest:
                raise UsageError(f"{name} needs a value")
            values[name] = inline or rest.pop(0)
        elif arg in ("--cascade", "--dry-run") and arg not in flags:
            flags.add(arg)
        else:
            raise UsageError(f"unexpected expire argument {arg!r}; usage: gpbackup_s3_plugin expire {EXPIRE_USAGE}")
    keep = values.get("--keep-full")
    days = values.get("--older-than-days")
    before = values.get("--before-timestamp")
    hours = values.get("--unfinished-older-than")
    policy = Policy(
        keep_full=int(_number("--keep-full", keep, whole=True)) if keep is not None else None,
        older_than_days=_number("--older-than-days", days, whole=False) if days is not None else None,
        before_timestamp=validate_timestamp(before) if before is not None else None,
        cascade="--cascade" in flags,
    )
    if not policy.selects_sets and hours is None:
        raise UsageError(
            "expire needs a policy: --keep-full N, --older-than-days D, --before-timestamp TS "
            "or --unfinished-older-than HOURS"
        )
    unfinished = _number("--unfinished-older-than", hours, whole=False) if hours is not None else None
    return ExpireOptions(policy, "--dry-run" in flags, unfinished)
