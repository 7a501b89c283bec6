"""What the host's streams wait on: a direction's byte budget, the host's request window, and their clocks.

:class:`RateGate` turns a :class:`~gps3async.core.bandwidth.fairshare.FairShare`
into waiting (``host_upload_limit`` / ``host_download_limit``);
:class:`RequestWindow` is the host's back-off: requests in flight, bounded by an
AIMD window once the store has throttled, and spaced by its schedule;
:class:`WaitClock` measures how long a stream waited on either.
:mod:`gps3async.runtime.bandwidth` puts them together per agent and per stream.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import TYPE_CHECKING

import anyio

from ..core.bandwidth.fairshare import FairShare
from ..core.bandwidth.window import AimdWindow, RequestSchedule, WindowChange

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["BURST_SECONDS", "THROTTLING_CODES", "RateGate", "RequestWindow", "WaitClock", "is_throttling", "rate_text"]

log = logging.getLogger("gps3async")

#: Bytes the budget may grant at once after an idle spell, as a fraction of a second of the rate.
BURST_SECONDS = 0.1
#: While backing off, how often a request waiting for its turn looks again at the rate answers have raised.
RECHECK_SECONDS = 0.05
#: Error codes with which S3 and compatible stores ask a client to slow down.
THROTTLING_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                              "TooManyRequests", "RequestThrottled", "ServiceUnavailable"})  # fmt: skip


def is_throttling(status: int, code: str) -> bool:
    return status in (429, 503) or code in THROTTLING_CODES


def rate_text(rate: float) -> str:
    return f"{rate / 1e6:.1f} MB/s ({int(rate)} bytes/s)"


class RateGate:
    """One direction's budget: waits until a :class:`FairShare` grants a demand."""

    def __init__(self, option: str, rate: int) -> None:
        self.option = option
        self.share = FairShare(rate, burst=max(1, int(rate * BURST_SECONDS)), now=anyio.current_time())
        self._events: dict[int, anyio.Event] = {}

    async def acquire(self, stream: object, nbytes: int) -> None:
        share = self.share
        demand = share.enqueue(stream, nbytes)
        event = self._events[id(demand)] = anyio.Event()
        try:
            while True:
                now = anyio.current_time()
                for other in share.grant(now):
                    found = self._events.get(id(other))
                    if found is not None:
                        found.set()
                if demand.granted:
                    return
                at = share.next_grant_at()
                with anyio.move_on_after(max((at if at is not None else now) - now, 0.0) + 1e-4):
                    await event.wait()
        finally:
            self._events.pop(id(demand), None)
            if not demand.granted:
                share.cancel(demand)  # a cancelled or failed stream gives its turn back at once

    def forget(self, stream: object) -> None:
        self.share.forget(stream)


class RequestWindow:
    """Requests in flight on the host, bounded by the AIMD window once the store has throttled."""

    def __init__(self, *, shared_backoff: bool) -> None:
        self.shared_backoff = shared_backoff
        self.aimd = AimdWindow()
        self.schedule = RequestSchedule()
        self.in_flight = 0
        self.throttled_answers = 0
        self._waiters: deque[anyio.Event] = deque()
        #: Requests waiting for their turn of the schedule queue here, first come first served.
        self._turns = anyio.Lock()

    def _has_room(self) -> bool:
        limit = self.aimd.limit
        return limit is None or self.in_flight < limit

    async def enter(self) -> None:
        if not self._waiters and self._has_room():
            self.in_flight += 1
            return
        event = anyio.Event()
        self._waiters.append(event)
        try:
            while True:
                await event.wait()
                if self._has_room():
                    break
                event = anyio.Event()
                self._waiters.appendleft(event)
        except BaseException:
            with contextlib.suppress(ValueError):
                self._waiters.remove(event)
            self._wake()
            raise
        self.in_flight += 1
        self._wake()

    def leave(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        limit = self.aimd.limit
        room = len(self._waiters) if limit is None else max(limit - self.in_flight, 0)
        for _ in range(min(room, len(self._waiters))):
            self._waiters.popleft().set()

    @property
    def backing_off(self) -> bool:
        return self.shared_backoff and self.aimd.limit is not None

    async def wait_turn(self) -> None:
        """While backing off, wait until the host's schedule lets this request go (in the order they came)."""
        if not self.backing_off:
            return
        async with self._turns:
            while self.backing_off:
                now = anyio.current_time()
                wait = self.schedule.turn_at(now) - now
                if wait <= 0:
                    break
                await anyio.sleep(min(wait, RECHECK_SECONDS))  # answers may raise the rate meanwhile: look again
            self.schedule.went(anyio.current_time())

    def note(self, status: int, code: str, *, paced: bool) -> bool:
        """An answer (one attempt) arrived: throttling cuts the window, success grows it.

        Only ``paced`` answers (parts and ranges, which take the window) count
        as successes: the small requests around them would inflate the rate.

        :returns: whether it was a throttling answer the host backs off from (shared back-off on).
        """
        now = anyio.current_time()
        if is_throttling(status, code):
            self.throttled_answers += 1
            if not self.shared_backoff:
                return False
            self.schedule.throttled(now)
            self._log(self.aimd.throttled(now, self.in_flight), f"HTTP {status} {code}".strip())
            return True
        if 200 <= status < 300 and paced:
            self.schedule.succeeded(now)
            self._log(self.aimd.succeeded(), "answers succeed")
            self._wake()
        return False

    def _log(self, change: WindowChange | None, why: str) -> None:
        if change is None:
            return
        before = "unlimited" if change.before is None else str(change.before)
        after = "unlimited" if change.after is None else str(change.after)
        verb = "lowered" if change.after is not None and (change.before is None or change.after < change.before) \
            else "raised"  # fmt: skip
        log.info("host requests in flight %s from %s to %s for every stream (%s)", verb, before, after, why)


class WaitClock:
    """Wall time during which at least one of a stream's requests waited (parallel waits count once)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._waiting = 0
        self._since = 0.0

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if self._waiting == 0:
            self._since = anyio.current_time()
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1
            if self._waiting == 0:
                self.seconds += anyio.current_time() - self._since
