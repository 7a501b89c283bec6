"""Sharing one byte rate equally among the streams that want bytes (pure: time is passed in).

A :class:`FairShare` is a token bucket that may go into debt: a demand (the
bytes of one request) is granted as soon as the bucket holds no debt, and its
bytes are then owed.  Over any interval the bytes granted are therefore at most
``rate x interval + burst + largest demand``, whatever the demands, which is
the bound the tests check.

Which waiting demand goes next is start-time fair queuing with equal weights:
every stream carries a virtual start (bytes granted to it, in a clock shared by
all streams), the waiting stream with the smallest goes first, and a stream
that starts waiting again is brought forward to the current virtual time, so
a stream cannot bank the share it did not use: what one stream leaves unused
goes to the others at once.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["Demand", "FairShare"]


@dataclass(eq=False)
class Demand:
    """``nbytes`` wanted by ``stream``; ``granted`` once the share allows it."""

    stream: object
    nbytes: int
    granted: bool = False
    granted_at: float | None = None


@dataclass
class _Backlog:
    start: float = 0.0
    waiting: deque[Demand] = field(default_factory=deque)


class FairShare:
    """``rate`` bytes per second shared equally by the streams with demands waiting."""

    def __init__(self, rate: float, *, burst: int, now: float) -> None:
        if rate <= 0 or burst < 0:
            raise ValueError("a fair share needs a positive rate and a non-negative burst")
        self.rate = float(rate)
        self.burst = burst
        self._tokens = 0.0
        self._updated = now
        self._virtual = 0.0
        self._streams: dict[object, _Backlog] = {}
        #: Bytes granted so far (the agent's own accounting).
        self.granted_bytes = 0

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._tokens = min(self._tokens + (now - self._updated) * self.rate, float(self.burst))
            self._updated = now

    def enqueue(self, stream: object, nbytes: int) -> Demand:
        """Queue ``nbytes`` for ``stream`` (behind its earlier demands)."""
        backlog = self._streams.setdefault(stream, _Backlog())
        if not backlog.waiting:
            backlog.start = max(backlog.start, self._virtual)
        demand = Demand(stream, nbytes)
        backlog.waiting.append(demand)
        return demand

    def cancel(self, demand: Demand) -> None:
        """Forget a demand not yet granted (its stream failed or was cancelled)."""
        backlog = self._streams.get(demand.stream)
        if backlog is not None and demand in backlog.waiting:
            backlog.waiting.remove(demand)

    def forget(self, stream: object) -> None:
        """Drop a stream that ended, with anything it still had waiting."""
        self._streams.pop(stream, None)

    def knows(self, stream: object) -> bool:
        """Whether ``stream`` still has a place (it asked for bytes and was not forgotten)."""
        return stream in self._streams

    def waiting_streams(self) -> int:
        return sum(1 for backlog in self._streams.values() if backlog.waiting)

    def grant(self, now: float) -> list[Demand]:
        """Grant every demand the bucket allows at ``now``, fairest first."""
        self._refill(now)
        granted: list[Demand] = []
        while self._tokens >= 0:
            backlog = min((b for b in self._streams.values() if b.waiting), key=lambda b: b.start, default=None)
            if backlog is None:
                break
            demand = backlog.waiting.popleft()
            self._virtual = backlog.start
            backlog.start += demand.nbytes
            self._tokens -= demand.nbytes
            self.granted_bytes += demand.nbytes
            demand.granted, demand.granted_at = True, now
            granted.append(demand)
        return granted

    def next_grant_at(self) -> float | None:
        """When the next waiting demand can be granted; ``None`` when nothing waits."""
        if not any(b.waiting for b in self._streams.values()):
            return None
        if self._tokens >= 0:
            return self._updated
        return self._updated + (-self._tokens) / self.rate
