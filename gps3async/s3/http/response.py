"""The framing of one HTTP/1.1 response, decided by httptools (llhttp).

:class:`ResponseReader` feeds the bytes of one response to httptools'
response parser and keeps what it reports: the status, the headers, whether
the connection may be kept alive, and how the body is framed.  The parser
validates the status line, the headers and ``Content-Length``, decodes chunked
bodies (S3 error documents arrive that way) and skips ``1xx`` interim answers.

A ``Content-Length`` body is the one thing the parser does not see in full:
once the headers are complete, the connection receives the body straight into
the caller's buffer, and the reader only counts those bytes
(:meth:`ResponseReader.received_in_place`).  Body bytes that arrived in the
same read as the headers were already decoded by the parser and wait in
:attr:`ResponseReader.pending`.
"""

from __future__ import annotations

from dataclasses import dataclass

import httptools

from .errors import ProtocolViolation

__all__ = ["ResponseHead", "ResponseReader"]


@dataclass(frozen=True)
class ResponseHead:
    status: int
    #: Header names lower-cased; a repeated header's values joined with ", ".
    headers: dict[str, str]
    #: Whether the server allows another request on this connection afterwards.
    keep_alive: bool
    #: The body's length when ``Content-Length`` frames it; ``None`` when the
    #: parser frames it (chunked, or delimited by the connection's close).
    content_length: int | None


class ResponseReader:
    """Parses one response; ``head_only`` for answers that carry no body (HEAD, CONNECT)."""

    def __init__(self, *, head_only: bool = False) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = head_only
        self._fields: list[tuple[bytes, bytes]] = []
        self.head: ResponseHead | None = None
        #: A ``100 Continue`` arrived (the request body may go).
        self.continued = False
        #: Body bytes decoded but not yet taken by the caller.
        self.pending = bytearray()
        #: ``Content-Length`` body bytes still to come from the wire (None: parser-framed).
        self.remaining: int | None = None
        #: The whole body has arrived (some of it may still be in :attr:`pending`).
        self.complete = False
        #: Bytes arrived after the end of the response: the connection cannot be reused.
        self.excess = False

    def feed(self, data: memoryview) -> None:
        """Take bytes read from the connection into the connection's scratch buffer.

        :raises ProtocolViolation: when they are not a valid HTTP/1.1 response.
        """
        if self.head is not None and self.remaining is not None:
            self._take_counted(data)
            return
        if self.complete:
            self.excess = self.excess or len(data) > 0
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as err:
            raise ProtocolViolation(f"malformed HTTP response: {err}") from None

    def received_in_place(self, count: int) -> None:
        """``count`` more body bytes were received straight into the caller's buffer."""
        assert self.remaining is not None and count <= self.remaining
        self.remaining -= count
        self.complete = self.remaining == 0

    def take_pending(self, view: memoryview) -> int:
        """Move up to ``len(view)`` pending body bytes into ``view``; return how many."""
        count = min(len(view), len(self.pending))
        if count:
            view[:count] = self.pending[:count]
            del self.pending[:count]
        return count

    def connection_closed(self) -> None:
        """The peer closed the connection; that ends a body delimited by the close."""
        if self.head is not None and self.remaining is None and self.head.content_length is None:
            if "transfer-encoding" not in self.head.headers:
                self.complete = True

    def _take_counted(self, data: memoryview) -> None:
        assert self.remaining is not None
        count = min(len(data), self.remaining)
        self.pending += data[:count]
        self.remaining -= count
        self.complete = self.remaining == 0
        self.excess = self.excess or len(data) > count

    # ---- httptools callbacks

    def on_message_begin(self) -> None:
        if self.head is not None:  # a second response where one was asked for
            self.excess = True
        self._fields = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields.append((name, value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if status < 200:  # interim answer; llhttp goes on with the final one
            self.continued = self.continued or status == 100
            return
        headers: dict[str, str] = {}
        for raw_name, raw_value in self._fields:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        length: int | None = None
        if self._head_only or status in (204, 304):
            length = 0
        elif "transfer-encoding" not in headers and "content-length" in headers:
            length = int(headers["content-length"])  # llhttp has already checked it is one number
        self.head = ResponseHead(status, headers, self._parser.should_keep_alive(), length)
        self.remaining = length
        self.complete = length == 0

    def on_body(self, body: bytes) -> None:
        if self.complete:  # e.g. a body after the head of a HEAD answer
            self.excess = True
            return
        if self.remaining is not None:  # Content-Length bytes that came with the headers
            self.remaining -= len(body)
            self.complete = self.remaining == 0
        self.pending += body

    def on_message_complete(self) -> None:
        if self.head is not None:
            self.complete = True
