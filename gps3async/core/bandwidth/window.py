"""How many requests a host keeps in flight against a store that throttles (pure: time is passed in).

Additive increase, multiplicative decrease, as TCP does for its congestion
window: a throttling answer (503, SlowDown) halves the window, a success adds
``1 / window``, so about one request per window's worth of successes.  The
answers of requests already in flight when the window was cut report the same
congestion, so for ``hold`` seconds after a cut further throttling answers
change nothing: one event, one cut, one line in the log.  The window starts
unlimited and returns to unlimited once it reaches ``ceiling`` (the sum of the
streams' own concurrency: more could never be used).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NamedTuple

__all__ = ["AimdWindow", "RequestSchedule", "WindowChange"]


class WindowChange(NamedTuple):
    """The window before and after a change; ``None`` means unlimited."""

    before: int | None
    after: int | None


class AimdWindow:
    def __init__(self, *, hold: float = 2.0, decrease: float = 0.5, minimum: int = 1) -> None:
        self.hold, self.decrease, self.minimum = hold, decrease, minimum
        self._limit: float | None = None
        self._last_cut = -math.inf
        #: The most requests that could ever be in flight (sum of the streams' concurrency).
        self.ceiling = 0
        self.cuts = 0

    @property
    def limit(self) -> int | None:
        """Requests allowed in flight; ``None``: no limit."""
        return None if self._limit is None else int(self._limit)

    def throttled(self, now: float, in_flight: int) -> WindowChange | None:
        """A throttling answer arrived at ``now`` with ``in_flight`` requests out; the change, if any."""
        if now - self._last_cut < self.hold:
            return None
        before = self.limit
        current = float(in_flight if self._limit is None else min(self._limit, max(in_flight, 1)))
        self._limit = float(max(self.minimum, math.floor(current * self.decrease)))
        self._last_cut = now
        self.cuts += 1
        return WindowChange(before, self.limit)

    def succeeded(self) -> WindowChange | None:
        """An answer succeeded; the change to the whole-number window, if any."""
        if self._limit is None:
            return None
        before = self.limit
        self._limit += 1.0 / self._limit
        if self.ceiling and self._limit >= self.ceiling:
            self._limit = None
        after = self.limit
        return WindowChange(before, after) if after != before else None


class RequestSchedule:
    """While the host backs off, when its next request may go: evenly spaced, a little above the accepted rate.

    A store that throttles accepts so many requests a second.  Sent faster,
    the surplus is refused and retried; retried after botocore's random
    exponential sleeps, requests holding a place in the window sit idle.  So
    while the window is cut, every request of the host, new or retried, goes
    one spacing after the one before it, the spacing being the rate of
    successful answers over the last ``span`` seconds, times ``probe`` (a
    little more, so the rate can grow back) once ``span`` seconds passed
    without a throttling answer, never below ``floor`` requests a second.

    The spacing is worked out when a request is due to go, not when it starts
    waiting: slots handed out in advance at the rate known at a cut (when few
    answers have come back) would hold requests back long after the answers
    showed the store accepts more.
    """

    def __init__(self, *, span: float = 2.0, probe: float = 1.25, floor: float = 0.5) -> None:
        self.span, self.probe, self.floor = span, probe, floor
        self._successes: deque[float] = deque()
        self._last_sent = -math.inf
        self._last_throttled = -math.inf

    def _forget_before(self, now: float) -> None:
        while self._successes and self._successes[0] <= now - self.span:
            self._successes.popleft()

    def succeeded(self, now: float) -> None:
        self._successes.append(now)
        self._forget_before(now)

    def throttled(self, now: float) -> None:
        self._last_throttled = now

    def rate(self, now: float) -> float:
        """Requests a second the schedule lets go at ``now``."""
        self._forget_before(now)
        probe = self.probe if now - self._last_throttled >= self.span else 1.0
        return max(len(self._successes) / self.span * probe, self.floor)

    def turn_at(self, now: float) -> float:
        """When the next request may go, at the rate known ``now`` (``now`` itself if it may go at once)."""
        return max(now, self._last_sent + 1.0 / self.rate(now))

    def went(self, now: float) -> None:
        """A request went at ``now``: the next one waits a spacing after it."""
        self._last_sent = now
