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
from typing import NamedTuple

__all__ = ["AimdWindow", "WindowChange"]


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
