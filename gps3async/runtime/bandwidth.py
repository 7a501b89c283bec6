"""The host's share of the link and of the store's patience, as the streams of one agent wait on them.

One :class:`HostBandwidth` per agent (per call in-process) holds a
:class:`~.hostgates.RateGate` per direction (``host_upload_limit``,
``host_download_limit``) and one :class:`~.hostgates.RequestWindow`, the host's
back-off.  A transfer registers a :class:`StreamShare` for as long as it runs;
each request of its pipeline then waits, in :func:`paced_request`, first for a
place in the window and then for its bytes.

Pacing is per request (a part, a ranged GET) rather than per socket write:
the bound on what the host admits is then ``rate x window + burst + one part
per direction``, which over the issue's 10 s window is a few per cent with
16 MiB parts at the rates a shared link is limited to, and it costs one wake-up
per part instead of one per socket read.  Bytes a retry re-sends inside
botocore are not charged again.

The stream of the running task is found through a context variable, as the
log's caller pid is: the pipelines' workers and botocore's ``needs-retry``
hook (:func:`note_answer`) run in tasks started inside the transfer, so the
hooks in :mod:`gps3async.transfer.upload`, :mod:`gps3async.transfer.download` and
:mod:`gps3async.s3.client` stay one line each and their signatures unchanged.
"""

from __future__ import annotations

import contextlib
import logging
from contextvars import ContextVar
from typing import TYPE_CHECKING, TypeVar

from .hostgates import RateGate, RequestWindow, WaitClock, rate_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping

T = TypeVar("T")

__all__ = ["BACKOFF_ENV", "DOWNLOAD", "UPLOAD", "HostBandwidth", "StreamShare", "note_answer", "paced",
           "paced_request", "shared_backoff"]  # fmt: skip

log = logging.getLogger("gps3async")

UPLOAD = "upload"
DEFAULT_MAX_ATTEMPTS = 5
DOWNLOAD = "download"
#: Internal switch for the bench's comparison: ``per-stream`` restores each stream backing off alone.
BACKOFF_ENV = "GPS3ASYNC_BACKOFF"

_CURRENT: ContextVar[StreamShare | None] = ContextVar("gps3async_stream_share", default=None)
#: The host-paced request the running task is making (set by :func:`paced` around one attempt).
_ATTEMPT: ContextVar[_Attempt | None] = ContextVar("gps3async_paced_attempt", default=None)


class _Attempt:
    """One attempt of a paced request: its number, and whether the store throttled it."""

    __slots__ = ("number", "throttled")

    def __init__(self, number: int) -> None:
        self.number = number
        self.throttled = False


def shared_backoff(environ: Mapping[str, str]) -> bool:
    """Whether the host backs off as one (the default) or each stream alone (botocore's retries only)."""
    return environ.get(BACKOFF_ENV, "host") != "per-stream"


class StreamShare:
    """One transfer's place on the host: its requests wait here, and it counts how long."""

    def __init__(self, host: HostBandwidth, direction: str, concurrency: int) -> None:
        self.host, self.direction, self.concurrency = host, direction, concurrency
        self.gate = host.upload if direction == UPLOAD else host.download
        self.budget_wait = WaitClock()
        self.backoff_wait = WaitClock()

    @contextlib.asynccontextmanager
    async def request(self, nbytes: int) -> AsyncIterator[None]:
        window = self.host.window
        with self.backoff_wait.waiting():
            await window.enter()
        try:
            with self.backoff_wait.waiting():
                await window.wait_turn()  # inside the try: a request cancelled here gives its place back
            if self.gate is not None and nbytes > 0:
                with self.budget_wait.waiting():
                    await self.gate.acquire(self, nbytes)
            yield
        finally:
            window.leave()

    async def send(self, nbytes: int, request: Callable[[], Awaitable[T]]) -> T:
        """Make ``request`` in the host's turn; a throttled attempt is retried here, in the host's turn again.

        The attempt leaves the window while it waits, so no place of the
        host's window sits idle in a retry's sleep.
        """
        number = 1
        while True:
            attempt = _Attempt(number)
            token = _ATTEMPT.set(attempt)
            try:
                async with self.request(nbytes):
                    return await request()
            except Exception:
                if not attempt.throttled or number >= self.host.max_attempts:
                    raise
                number += 1
            finally:
                _ATTEMPT.reset(token)

    def describe(self) -> str:
        """The waits for the transfer's summary line (wall time with at least one request waiting)."""
        return (
            f"waited {self.budget_wait.seconds:.3f} s for the bandwidth budget,"
            f" {self.backoff_wait.seconds:.3f} s for back-off"
        )


class HostBandwidth:
    """The host's budgets (``None``: no limit that way) and its request window."""

    def __init__(
        self, upload_limit: int | None, download_limit: int | None, *, shared_backoff: bool = True,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> None:  # fmt: skip
        self.upload = RateGate("host_upload_limit", upload_limit) if upload_limit else None
        self.download = RateGate("host_download_limit", download_limit) if download_limit else None
        self.window = RequestWindow(shared_backoff=shared_backoff)
        #: Attempts of a throttled request the host makes (the config's ``max_attempts``).
        self.max_attempts = max_attempts
        self.streams = 0

    def describe(self) -> str:
        parts = [
            f"{gate.option} {rate_text(gate.share.rate)}" if gate else f"{name} none"
            for name, gate in (("host_upload_limit", self.upload), ("host_download_limit", self.download))
        ]
        backoff = "one back-off per host" if self.window.shared_backoff else "each stream backs off alone"
        return ", ".join(parts) + f", {backoff}"

    @contextlib.contextmanager
    def stream(self, direction: str, concurrency: int) -> Iterator[StreamShare]:
        """Register a transfer for as long as it runs; its requests find it through :func:`paced_request`."""
        share = StreamShare(self, direction, concurrency)
        self.streams += 1
        self.window.aimd.ceiling += concurrency
        token = _CURRENT.set(share)
        try:
            yield share
        finally:
            _CURRENT.reset(token)
            self.streams -= 1
            self.window.aimd.ceiling -= concurrency
            if share.gate is not None:
                share.gate.forget(share)


@contextlib.asynccontextmanager
async def paced_request(nbytes: int) -> AsyncIterator[None]:
    """Wait for the host's window and ``nbytes`` of the budget, if this task runs inside a transfer."""
    share = _CURRENT.get()
    if share is None:
        yield
        return
    async with share.request(nbytes):
        yield


async def paced(nbytes: int, request: Callable[[], Awaitable[T]]) -> T:
    """Make ``request`` (moving ``nbytes``) in the host's turn, if this task runs inside a transfer.

    It waits for a place in the host's window and for its bytes of the budget;
    with the shared back-off, an attempt the store throttles is retried by the
    host (up to the config's ``max_attempts``), in the host's turn, not by botocore.
    """
    share = _CURRENT.get()
    if share is None:
        return await request()
    return await share.send(nbytes, request)


def note_answer(status: int, code: str) -> bool | None:
    """botocore's answer to one attempt, for the host's back-off (a no-op outside a transfer).

    :returns: ``False`` when the host retries the attempt itself (botocore must not);
        ``None`` when botocore's standard retry mode decides.
    """
    share = _CURRENT.get()
    attempt = _ATTEMPT.get()
    if share is None or not share.host.window.note(status, code, paced=attempt is not None):
        return None
    if attempt is None:
        return None  # a request the host does not pace (CreateMultipartUpload, a HEAD): botocore retries it
    attempt.throttled = True
    return False
