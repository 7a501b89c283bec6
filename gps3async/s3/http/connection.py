"""One HTTP/1.1 client connection: an asyncio ``BufferedProtocol`` that receives bodies in place.

While a response head is awaited, the transport reads into a 64 KiB scratch
buffer whose bytes go to the :class:`~gps3async.s3.http.response.ResponseReader`.
Once the head says ``Content-Length``, reading pauses until the caller asks
for the body with :meth:`Connection.readinto`; then :meth:`get_buffer` hands
the transport a view of the caller's own buffer, so the kernel copies the
body straight into it, as many bytes per read as the socket holds, and the
caller's task wakes once, when the view is full.

Nothing here blocks on a timer per read: a watchdog armed for each wait
fails the connection when neither a byte arrived nor the write buffer
shrank for ``read_timeout`` seconds.  A connection that failed, was
cancelled mid-exchange, or still holds unread body bytes is never reused
(:meth:`finish` decides).
"""

from __future__ import annotations

import asyncio
from typing import cast

from .errors import BodyEndedEarly, ConnectionClosed, HttpError, ProtocolViolation, ReadTimeout
from .response import ResponseHead, ResponseReader

__all__ = ["Connection"]

#: Scratch space for response heads and parser-framed (chunked) bodies.
_SCRATCH = 64 * 1024
#: Parser-framed body bytes buffered before reading pauses for the consumer.
_PENDING_LIMIT = 1024 * 1024


class Connection(asyncio.BufferedProtocol):
    """A client connection carrying one request/response exchange at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._scratch = memoryview(bytearray(_SCRATCH))
        self._sink: memoryview | None = None
        self._sink_filled = 0
        self._reader: ResponseReader | None = None
        self._failure: HttpError | None = None
        self._closed = False
        self._reading_paused = False
        self._writing_paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._received = 0
        #: Seconds without progress before a wait fails with :class:`ReadTimeout`.
        self.read_timeout: float | None = None
        #: Set by the pool when the connection carried an earlier exchange.
        self.reused = False

    # ---- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the interface of asyncio.Transport without subclassing it.
        self._transport = cast("asyncio.Transport", transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._sink is not None:
            return self._sink[self._sink_filled :]
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        self._received += nbytes
        reader = self._reader
        if self._sink is not None:
            assert reader is not None
            self._sink_filled += nbytes
            reader.received_in_place(nbytes)
            if self._sink_filled == len(self._sink):
                self._sink = None
                self._pause_reading()
                self._wake()
            return
        if reader is None:
            self._fail(ProtocolViolation("data arrived while no request was outstanding"))
            return
        try:
            reader.feed(self._scratch[:nbytes])
        except ProtocolViolation as err:
            self._fail(err)
            return
        if reader.head is not None and (reader.remaining or len(reader.pending) >= _PENDING_LIMIT):
            self._pause_reading()  # the rest waits for readinto (in place, or parsed)
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # the transport closes; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._reader is not None:
            self._reader.connection_closed()
        cause = f"connection reset ({exc})" if exc else "connection closed by the peer"
        self._fail(ConnectionClosed(cause), abort=False)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._wake()

    # ---- state

    @property
    def idle_and_open(self) -> bool:
        """Whether the connection may carry a new exchange."""
        transport = self._transport
        return (
            self._reader is None
            and self._failure is None
            and not self._closed
            and transport is not None
            and not transport.is_closing()
        )

    @property
    def received(self) -> int:
        """Bytes received so far over the connection's life (to tell whether an answer began)."""
        return self._received

    @property
    def body_complete(self) -> bool:
        """Whether every body byte of the current exchange has been handed to the caller."""
        reader = self._reader
        return reader is not None and reader.complete and not reader.pending

    @property
    def transport(self) -> asyncio.Transport:
        assert self._transport is not None
        return self._transport

    def use_transport(self, transport: asyncio.Transport) -> None:
        """Carry on over ``transport`` (the TLS layer ``loop.start_tls`` put on top of the old one)."""
        self._transport = transport

    def abort(self) -> None:
        """Drop the connection at once (buffered writes are discarded)."""
        self._fail(ConnectionClosed("connection aborted"))

    # ---- one exchange

    def begin(self, *, head_only: bool = False) -> None:
        """Start an exchange: the next bytes to arrive are its response."""
        assert self.idle_and_open, "a connection carries one exchange at a time"
        self._reader = ResponseReader(head_only=head_only)
        self._resume_reading()

    def end_tunnel_setup(self) -> None:
        """The proxy's answer to ``CONNECT`` has been read; the connection now carries the tunnel."""
        reader, self._reader = self._reader, None
        if reader is None or reader.pending or reader.excess:
            self._fail(ProtocolViolation("the proxy sent data after its answer to CONNECT"))
            self._raise_failure()

    def write(self, data: bytes | memoryview) -> None:
        """Queue ``data``; the transport keeps a reference, not a copy, until it is sent."""
        self._raise_failure()
        self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's write buffer is above its high-water mark."""
        while self._writing_paused:
            self._raise_failure()
            await self._wait()
        self._raise_failure()

    async def receive_head(self, *, continue_within: float | None = None) -> ResponseHead | None:
        """The response head; with ``continue_within``, ``None`` once a ``100 Continue`` arrived or that many
        seconds passed without an answer (the request body should go then).
        """
        reader = self._current()
        deadline = None if continue_within is None else self._loop.time() + continue_within
        while reader.head is None:
            if deadline is not None and (reader.continued or self._loop.time() >= deadline):
                return None
            self._raise_failure()
            await self._wait(None if deadline is None else max(deadline - self._loop.time(), 0.0))
        return reader.head

    async def readinto(self, view: memoryview) -> int:
        """Receive body bytes into ``view``; return how many (0 only at the end of the body).

        It returns once ``view`` is full or the body ends.  When the connection
        fails after some bytes arrived, it returns those; the next call raises.
        """
        reader = self._current()
        got = reader.take_pending(view)
        if got == len(view) or (reader.complete and not reader.pending):
            return got
        if reader.remaining is not None:
            got += await self._receive_in_place(view[got : got + reader.remaining])
        else:
            got += await self._receive_parsed(view[got:])
        if got == 0 and not reader.complete:
            raise self._body_failure(reader)
        return got

    def finish(self) -> bool:
        """End the exchange; return whether the connection may be reused (else it is closed)."""
        reader, self._reader = self._reader, None
        reusable = (
            reader is not None
            and reader.head is not None
            and reader.head.keep_alive
            and reader.complete
            and not reader.pending
            and not reader.excess
            and self._failure is None
            and not self._closed
            and self.transport.get_write_buffer_size() == 0
        )
        if reusable:
            self._resume_reading()  # an idle connection must notice the server closing it
        else:
            self.abort()
        return reusable

    # ---- internals

    def _current(self) -> ResponseReader:
        assert self._reader is not None, "no exchange in progress"
        return self._reader

    async def _receive_in_place(self, view: memoryview) -> int:
        if not len(view) or self._failure is not None:
            return 0
        self._sink, self._sink_filled = view, 0
        self._resume_reading()
        try:
            while self._sink is not None and self._failure is None:
                await self._wait()
        finally:
            got, self._sink = self._sink_filled, None
        return got

    async def _receive_parsed(self, view: memoryview) -> int:
        reader = self._current()
        while not reader.pending and not reader.complete and self._failure is None:
            self._resume_reading()
            await self._wait()
        got = reader.take_pending(view)
        if len(reader.pending) < _PENDING_LIMIT and not self._closed:
            self._resume_reading()
        return got

    def _body_failure(self, reader: ResponseReader) -> HttpError:
        failure = self._failure or ConnectionClosed("connection closed")
        head = reader.head
        if isinstance(failure, ConnectionClosed) and head is not None and head.content_length is not None:
            received = head.content_length - (reader.remaining or 0)
            return BodyEndedEarly(received, head.content_length)
        return failure

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _fail(self, failure: HttpError, *, abort: bool = True) -> None:
        if self._failure is None:
            self._failure = failure
        if abort and self._transport is not None:
            self._transport.abort()
        self._wake()

    def _pause_reading(self) -> None:
        if not self._reading_paused and not self._closed and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused and not self._closed and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _progress(self) -> tuple[int, int]:
        transport = self._transport
        return self._received, transport.get_write_buffer_size() if transport is not None else 0

    async def _wait(self, at_most: float | None = None) -> None:
        """Sleep until a callback wakes us, the watchdog fails the connection, or ``at_most`` passes."""
        self._waiter = waiter = self._loop.create_future()
        timeout = self.read_timeout
        if timeout is not None:
            self._watchdog = self._loop.call_later(timeout, self._check_progress, self._progress())
        limit = self._loop.call_later(at_most, self._wake) if at_most is not None else None
        try:
            await waiter
        finally:
            self._waiter = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if limit is not None:
                limit.cancel()

    def _check_progress(self, before: tuple[int, int]) -> None:
        if self._waiter is None or self.read_timeout is None:
            return
        now = self._progress()
        if now == before:
            self._fail(ReadTimeout(f"no data for {self.read_timeout:g} s"))
        else:
            self._watchdog = self._loop.call_later(self.read_timeout, self._check_progress, now)
