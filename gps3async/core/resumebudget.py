"""When a body that keeps breaking off is resumed, and when it is given up (pure, sans-I/O).

A GET whose body breaks off is resumed from the last byte received
(:mod:`gps3async.s3.storage.reads`).  What limits the resumes is not how many
breaks there were but whether they still bring anything: a network that
closes every connection after a few megabytes (a load balancer or NAT with a
byte or time limit, a flaky WAN link) breaks a long range many times, and each
attempt still advances it, so it finishes.  Two bounds end a hopeless read:

* **no progress** -- ``max_stalls`` consecutive attempts that brought no new
  byte (the config's ``max_attempts``, 5 by default);
* **a deadline per range** -- :meth:`ResumePolicy.deadline`: ``read_timeout``
  seconds for every started MiB of the range, plus ``(max_stalls + 1) x
  read_timeout`` so that the no-progress bound always has its time.  With the
  defaults a 16 MiB range has 22 minutes (a floor of about 13 kB/s).  It is
  checked when a body breaks: an attempt that is still receiving is never cut
  short by it (an attempt that receives nothing ends after ``read_timeout``).

Progress is any new byte: an attempt that received one counts, so a trickle
that brings a few bytes per connection is ended by the deadline, not by the
no-progress bound.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_STALLS", "DEFAULT_READ_TIMEOUT", "ResumeBudget", "ResumePolicy"]

MIB = 1024 * 1024
#: The config's ``max_attempts`` default: attempts in a row that brought no new byte before a read gives up.
DEFAULT_MAX_STALLS = 5
#: The config's ``read_timeout`` default, in seconds.
DEFAULT_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class ResumePolicy:
    """How long a read keeps resuming: ``max_stalls`` attempts in a row without progress, and a deadline."""

    max_stalls: int = DEFAULT_MAX_STALLS
    read_timeout: float = DEFAULT_READ_TIMEOUT

    def __post_init__(self) -> None:
        if self.max_stalls < 1:
            raise ValueError("max_stalls must be at least 1")
        if self.read_timeout <= 0:
            raise ValueError("read_timeout must be positive")

    def deadline(self, size: int) -> float:
        """Seconds a read of ``size`` bytes may keep resuming, counted from its first request."""
        started_mib = -(-max(size, 0) // MIB)
        return self.read_timeout * (self.max_stalls + 1 + started_mib)

    def start(self, size: int, now: float) -> ResumeBudget:
        """The budget of one read of ``size`` bytes whose first request goes at ``now`` (a monotonic clock)."""
        return ResumeBudget(self, size, now)


@dataclass
class ResumeBudget:
    """One read's resumes so far: what broke, what each attempt brought, and whether to go on."""

    policy: ResumePolicy
    #: The bytes the read wants (known from the first answer for a read of a whole object).
    size: int
    #: When the first request went (the caller's monotonic clock).
    started: float
    #: Attempts whose body broke off.
    breaks: int = 0
    #: Breaks in a row that brought no new byte.
    stalls: int = 0
    #: Bytes received so far, over every attempt.
    received: int = 0

    def broke(self, received: int, now: float) -> str | None:
        """Count an attempt that broke off after ``received`` new bytes at ``now``.

        Returns ``None`` to resume, or why the read gives up (a phrase for the error line).
        """
        if received < 0:
            raise ValueError("received must not be negative")
        self.breaks += 1
        self.received += received
        self.stalls = 0 if received else self.stalls + 1
        if self.stalls >= self.policy.max_stalls:
            return f"{self.stalls} attempts in a row brought no new byte"
        limit = self.policy.deadline(self.size)
        elapsed = now - self.started
        if elapsed >= limit:
            return (
                f"still incomplete {elapsed:.0f} s after its first request (a read of {self.size} bytes may take"
                f" {limit:.0f} s: read_timeout x (max_attempts + 1 + its size in MiB))"
            )
        return None

    def describe(self) -> str:
        """What the read got so far, for the error line: ``R of S bytes received, the body broke off B times``."""
        return f"{self.received} of {self.size} bytes received, the body broke off {self.breaks} times"
