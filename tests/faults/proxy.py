"""A scriptable, misbehaving HTTP/1.1 reverse proxy for fault-injection tests.

This module owns the wire between the plugin under test and the S3 server.
:class:`FaultProxy` listens on 127.0.0.1 (a free port), runs its own asyncio
loop in a background thread, and forwards every request verbatim (method,
target, headers including ``Host``, which SigV4 signs) to the upstream server
over a fresh connection per request (``Connection: close`` upstream), while
keeping client connections alive the way aiohttp expects.  With ``tls`` it
speaks TLS on both sides (for a store behind a self-signed certificate).  ``Expect:
100-continue`` is relayed: the upstream's interim ``100 Continue`` is passed
on before the request body is.

A test scripts faults by adding :class:`Rule` objects.  A rule matches on the
method, a regular expression (or predicate) over the request target and,
optionally, the presence of a header; it fires for the first ``times``
matches, on every match, with a ``probability`` drawn from its own seeded
RNG, or, with ``per_second``, on the matches above that many a second (a store
that throttles: the requests it lets through in any one-second window never
exceed ``per_second``).  The first rule that fires decides the request's fate:

* :class:`ResetRequest` -- read part of the request body, then reset (RST);
* :class:`ResetResponse` -- forward the answer, reset after N body bytes;
* :class:`Error` -- answer with an S3 XML error and never ask upstream;
* :class:`Truncate` -- forward the headers (full length), N body bytes, FIN;
* :class:`Stall` -- hold the request, or the response body after N bytes;
* :class:`FlipByte` -- invert one byte of the response body, keep the length;
* :class:`FlipUpload` -- invert one bit of the request body on its way upstream;
* :class:`OneOf` -- pick one of several actions with the rule's RNG;
* :class:`Reply` -- answer with a canned status and body, never asking upstream;
* :class:`IgnoreDigests` -- answer 200 to a body that does not match its digests, echoing them;
* :class:`VerifyBody` -- read the whole body and check its ``Content-MD5`` and
  hex ``x-amz-content-sha256`` as a strict store does, then forward it or refuse.

Apart from the rules, :meth:`FaultProxy.cut_connections` takes a :class:`ConnectionCut`: client
connections (every one, or every ``every``-th) are closed once they have carried so many bytes
of responses, or of requests, over all the requests they served, as a load balancer, a NAT with
a byte limit or a flaky WAN link does to long transfers.

Every request is logged, with its headers, as a :class:`Seen` entry and every rule counts its
matches and faults, so a test can prove that the fault it scripted happened.
:meth:`FaultProxy.stop_listening` closes the listening socket so new
connections are refused.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Union, cast
from xml.sax.saxutils import escape

import crc32c

__all__ = [
    "Action",
    "ConnectionCut",
    "Error",
    "FaultProxy",
    "FlipByte",
    "FlipUpload",
    "IgnoreDigests",
    "OneOf",
    "Reply",
    "Request",
    "ResetRequest",
    "ResetResponse",
    "Rule",
    "Seen",
    "Stall",
    "Truncate",
    "VerifyBody",
    "error",
    "flip_byte",
    "one_of",
    "reply",
    "reset_request",
    "reset_response",
    "stall",
    "truncate",
]

_PIECE = 64 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ResetRequest:
    """Read up to ``after_bytes`` of the request body, then reset the client connection."""

    after_bytes: int = 64 * 1024


@dataclass(frozen=True)
class ResetResponse:
    """Forward the upstream answer but reset the client connection after ``after_bytes`` body bytes."""

    after_bytes: int


@dataclass(frozen=True)
class Error:
    """Answer ``status`` with an S3 XML error ``code``; the request body is drained, upstream never asked."""

    status: int
    code: str
    message: str = "injected by the fault proxy"


@dataclass(frozen=True)
class Truncate:
    """Forward the headers (full Content-Length) and ``after_bytes`` body bytes, then close cleanly."""

    after_bytes: int


@dataclass(frozen=True)
class Stall:
    """Hold the request ``seconds`` (``after_bytes`` None) or stop the body after ``after_bytes``; then close."""

    seconds: float
    after_bytes: int | None = None


@dataclass(frozen=True)
class Delay:
    """Hold the request ``seconds``, then forward it whole, whether or not the client is still waiting.

    A store slow to take a request: a client that gives up and sends it again
    has two copies on the way, and the late one still lands.
    """

    seconds: float


@dataclass(frozen=True)
class FlipByte:
    """Invert the response body byte at ``offset`` (the length stays the same)."""

    offset: int


@dataclass(frozen=True)
class FlipUpload:
    """Invert bit 0 of the request body byte at ``offset`` (clipped to the body) before it goes upstream.

    A bit flipped in transit, as a faulty NIC, switch or middlebox does to an
    upload: the headers (and the digests they carry) are the client's.
    """

    offset: int = 0


@dataclass(frozen=True)
class OneOf:
    """One of ``choices``, drawn with the rule's seeded RNG each time the rule fires."""

    choices: tuple[Action, ...]


@dataclass(frozen=True)
class Reply:
    """Answer ``status`` with ``body`` (XML unless ``content_type`` says otherwise); upstream never asked."""

    status: int
    body: bytes
    content_type: str = "application/xml"


@dataclass(frozen=True)
class VerifyBody:
    """Read the whole request body and check it as a strict store does, then forward it upstream.

    A ``Content-MD5`` that differs from the body's MD5 is answered 400
    ``BadDigest``; an ``x-amz-content-sha256`` that is a hex digest (not
    ``UNSIGNED-PAYLOAD``) and differs from the body's SHA-256 is answered 400
    ``XAmzContentSHA256Mismatch`` (the local server checks the signature but
    not that the body matches the signed hash).  A chunked body is answered
    411 ``MissingContentLength``, as S3 answers a PUT without a length.
    """


@dataclass(frozen=True)
class IgnoreDigests:
    """A store that accepts every digest and verifies none, and replays the request's digest headers.

    A body that does not match its ``Content-MD5``, hex ``x-amz-content-sha256``
    or ``x-amz-checksum-crc32c`` is answered 200 with an ETag, as such a store
    answers it (the bytes are dropped: the upstream would refuse the MD5); every
    ``x-amz-checksum-*`` and ``Content-MD5`` header of the request comes back in
    the answer, as servers that replay request headers send them.  A body that
    matches is forwarded.
    """


Action = Union[
    ResetRequest, ResetResponse, Error, Truncate, Stall, Delay, FlipByte, FlipUpload, OneOf, Reply, VerifyBody,
    IgnoreDigests,
]  # fmt: skip


@dataclass(frozen=True)
class ConnectionCut:
    """Close client connections (with a FIN) once they have carried so many bytes, whatever they carry.

    ``response_bytes`` counts what the proxy sent on the connection (status lines and headers
    included, over every request it served), ``request_bytes`` what it read from it; ``None``: no
    limit that way.  Connection number ``n`` (from 1, in the order accepted) is cut when ``n`` is a
    multiple of ``every``: 1 cuts every connection, 3 every third.  ``keep_alive`` false answers every
    request with ``Connection: close`` and closes the connection after it, as a proxy that does not
    keep client connections does: each request then comes on a connection of its own, so "every third
    connection" is every third request.
    """

    response_bytes: int | None = None
    request_bytes: int | None = None
    every: int = 1
    keep_alive: bool = True


def reset_request(after_bytes: int = 64 * 1024) -> ResetRequest:
    return ResetRequest(after_bytes)


def reset_response(after_bytes: int) -> ResetResponse:
    return ResetResponse(after_bytes)


def error(status: int, code: str, message: str = "injected by the fault proxy") -> Error:
    return Error(status, code, message)


def truncate(after_bytes: int) -> Truncate:
    return Truncate(after_bytes)


def stall(seconds: float, after_bytes: int | None = None) -> Stall:
    return Stall(seconds, after_bytes)


def delay(seconds: float) -> Delay:
    return Delay(seconds)


def flip_byte(offset: int) -> FlipByte:
    return FlipByte(offset)


def one_of(*choices: Action) -> OneOf:
    return OneOf(tuple(choices))


def reply(status: int, body: bytes, content_type: str = "application/xml") -> Reply:
    return Reply(status, body, content_type)


# --------------------------------------------------------------------------- rules and log


@dataclass(frozen=True)
class Request:
    """What a rule sees of a request: method, target (path and query) and headers."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


def header_value(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive), as requests and recorded exchanges both need."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


PathMatcher = Union[str, "re.Pattern[str]", Callable[[Request], bool]]


@dataclass(eq=False)
class Rule:
    """When to fault (method, target, header, times/probability) and how (``action``)."""

    action: Action
    method: str | None = None
    path: PathMatcher | None = None
    header: str | None = None
    times: int | None = None
    probability: float | None = None
    seed: int = 0
    #: Fault only the matches above this many a second (a throttling store); ``None``: no rate.
    per_second: float | None = None
    matched: int = 0
    faulted: int = 0
    _rng: random.Random = field(init=False, repr=False)
    #: When the matches let through in the last second were let through (for ``per_second``).
    _passed: deque[float] = field(init=False, repr=False, default_factory=deque)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        if isinstance(self.path, str):
            self.path = re.compile(self.path)

    def matches(self, request: Request) -> bool:
        if self.method is not None and request.method.upper() != self.method.upper():
            return False
        if self.header is not None and request.header(self.header) is None:
            return False
        if isinstance(self.path, re.Pattern):
            return self.path.search(request.target) is not None
        if callable(self.path):
            return bool(self.path(request))
        return True

    def _under_rate(self) -> bool:
        """Whether this match fits within ``per_second`` (then it is let through and counted)."""
        now = time.monotonic()
        while self._passed and self._passed[0] <= now - 1.0:
            self._passed.popleft()
        if len(self._passed) < (self.per_second or 0):
            self._passed.append(now)
            return True
        return False

    def fire(self) -> Action | None:
        """Count a match; return the action to apply, or None to let the request pass."""
        self.matched += 1
        if self.times is not None and self.faulted >= self.times:
            return None
        if self.probability is not None and self._rng.random() >= self.probability:
            return None
        if self.per_second is not None and self._under_rate():
            return None
        self.faulted += 1
        action = self.action
        while isinstance(action, OneOf):
            action = self._rng.choice(action.choices)
        return action


@dataclass(frozen=True)
class Seen:
    """One request as the proxy saw it, with the fault applied to it (if any)."""

    method: str
    target: str
    fault: str | None
    headers: tuple[tuple[str, str], ...] = ()
    #: When it arrived (:func:`time.monotonic`).
    at: float = 0.0

    def header(self, name: str) -> str | None:
        return header_value(self.headers, name)


# --------------------------------------------------------------------------- HTTP helpers


class _Abort(Exception):
    """The client connection has been closed on purpose; stop serving it."""


@dataclass
class _Head:
    first: str
    lines: list[bytes]
    headers: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None


async def _read_head(reader: asyncio.StreamReader) -> _Head | None:
    """Read a request or status line and its headers; None on a clean EOF before any byte."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as err:
        if not err.partial:
            return None
        raise
    first, *lines = raw[:-4].split(b"\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return _Head(first.decode("latin-1"), lines, headers)


def _framing(head: _Head) -> tuple[str, int]:
    """``("chunked", 0)``, ``("length", n)`` or ``("eof", 0)``."""
    if "chunked" in (head.get("Transfer-Encoding") or "").lower():
        return "chunked", 0
    length = head.get("Content-Length")
    if length is not None:
        return "length", int(length)
    return "eof", 0


async def _relay_request_body(reader: asyncio.StreamReader, head: _Head, out: asyncio.StreamWriter | None,
                              limit: int | None = None) -> int:  # fmt: skip
    """Copy the raw request body to ``out`` (or drop it); stop after ``limit`` bytes. Return bytes read."""
    kind, length = _framing(head)
    done = 0
    if kind == "length":
        todo = length if limit is None else min(length, limit)
        while done < todo:
            piece = await reader.read(min(_PIECE, todo - done))
            if not piece:
                raise asyncio.IncompleteReadError(b"", todo - done)
            done += len(piece)
            if out is not None:
                out.write(piece)
                await out.drain()
        return done
    if kind == "chunked":
        while limit is None or done < limit:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            data = await reader.readexactly(size + 2) if size else b""
            trailer = b""
            if not size:
                while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                    trailer += line
                trailer += b"\r\n"
            done += size
            if out is not None:
                out.write(size_line + data + trailer)
                await out.drain()
            if not size:
                break
        return done
    return 0  # a request without Content-Length or chunking has no body


async def _body_pieces(reader: asyncio.StreamReader, kind: str, length: int) -> AsyncIterator[bytes]:
    """Yield the decoded response body."""
    if kind == "length":
        left = length
        while left:
            piece = await reader.read(min(_PIECE, left))
            if not piece:
                raise asyncio.IncompleteReadError(b"", left)
            left -= len(piece)
            yield piece
    elif kind == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if not size:
                while await reader.readuntil(b"\r\n") != b"\r\n":
                    pass
                return
            while size:
                piece = await reader.read(min(_PIECE, size))
                if not piece:
                    raise asyncio.IncompleteReadError(b"", size)
                size -= len(piece)
                yield piece
            await reader.readexactly(2)
    else:
        while piece := await reader.read(_PIECE):
            yield piece


def _reset(writer: asyncio.StreamWriter) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


def _error_response(action: Error, request: Request, number: int, keep_alive: bool) -> bytes:
    resource = request.target.split("?", 1)[0]
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(action.code)}</Code><Message>{escape(action.message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>fault-{number}</RequestId></Error>"
    ).encode()
    try:
        reason = HTTPStatus(action.status).phrase
    except ValueError:
        reason = "Error"
    head = (
        f"HTTP/1.1 {action.status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: fault-{number}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode()
    return head if request.method.upper() == "HEAD" else head + body


def _canned_response(action: Reply, number: int, keep_alive: bool) -> bytes:
    try:
        reason = HTTPStatus(action.status).phrase
    except ValueError:
        reason = "Reply"
    head = (
        f"HTTP/1.1 {action.status} {reason}\r\n"
        f"Content-Type: {action.content_type}\r\n"
        f"Content-Length: {len(action.body)}\r\n"
        f"x-amz-request-id: reply-{number}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    ).encode()
    return head + action.body


def _body_refusal(head: _Head, body: bytes) -> Error | None:
    """What a strict store answers to ``body`` under these headers, or None when it matches them."""
    md5 = head.get("Content-MD5")
    if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode("ascii"):
        return Error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
    sha = (head.get("x-amz-content-sha256") or "").lower()
    if re.fullmatch(r"[0-9a-f]{64}", sha) and sha != hashlib.sha256(body).hexdigest():
        return Error(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    return None


def _unchunked(head: _Head, length: int) -> tuple[list[bytes], list[tuple[str, str]]]:
    """``head``'s lines and headers for a body now sent whole: Content-Length instead of Transfer-Encoding."""
    kept = [(line, name) for line, name in zip(head.lines, head.headers) if name[0].lower() != "transfer-encoding"]
    lines = [line for line, _ in kept] + [b"Content-Length: %d" % length]
    headers = [name for _, name in kept] + [("Content-Length", str(length))]
    return lines, headers


def _describe(action: Action) -> str:
    return type(action).__name__ + "(" + ", ".join(f"{k}={v!r}" for k, v in vars(action).items()) + ")"


class _CutWriter:
    """A connection's writer that closes it once ``limit`` bytes went out (the bytes before the limit are sent)."""

    def __init__(self, writer: asyncio.StreamWriter, limit: Callable[[], int | None], cut: Callable[[], None]) -> None:
        self._writer, self._limit, self._cut = writer, limit, cut
        self.sent = 0

    def write(self, data: bytes) -> None:
        limit = self._limit()
        if limit is not None and self.sent + len(data) > limit:
            self._writer.write(data[: max(limit - self.sent, 0)])
            self._cut()
            raise _Abort
        self._writer.write(data)
        self.sent += len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._writer, name)


class _CutReader:
    """A connection's reader that closes it once ``limit`` bytes came in (reads are clipped at the limit)."""

    def __init__(self, reader: asyncio.StreamReader, limit: Callable[[], int | None], cut: Callable[[], None]) -> None:
        self._reader, self._limit, self._cut = reader, limit, cut
        self.received = 0

    def _room(self, wanted: int) -> int:
        limit = self._limit()
        if limit is None:
            return wanted
        room = limit - self.received
        if room <= 0:
            self._cut()
            raise _Abort
        return room if wanted < 0 else min(wanted, room)

    def _count(self, data: bytes) -> bytes:
        self.received += len(data)
        limit = self._limit()
        if limit is not None and self.received > limit:
            self._cut()
            raise _Abort
        return data

    async def read(self, n: int = -1) -> bytes:
        return self._count(await self._reader.read(self._room(n)))

    async def readexactly(self, n: int) -> bytes:
        room = self._room(n)
        data = await self._reader.readexactly(room)
        if room < n:
            self._count(data)
            self._cut()
            raise _Abort
        return self._count(data)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        self._room(1)
        return self._count(await self._reader.readuntil(separator))


# --------------------------------------------------------------------------- the proxy


class FaultProxy:
    """The proxy; use as a context manager or call :meth:`start` and :meth:`stop`."""

    def __init__(
        self,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        *,
        host: str = "127.0.0.1",
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``tls`` (certificate, key) makes both sides TLS: the proxy serves that certificate, and it
        talks TLS upstream trusting the same certificate as its CA (a store with a self-signed one)."""
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.tls = tls
        self._server_tls: ssl.SSLContext | None = None
        self._upstream_tls: ssl.SSLContext | None = None
        if tls is not None:
            self._server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._server_tls.load_cert_chain(str(tls[0]), str(tls[1]))
            self._upstream_tls = ssl.create_default_context(cafile=str(tls[0]))
        self.port = 0
        self._rules: list[Rule] = []
        self._seen: list[Seen] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._number = 0
        self._cut: ConnectionCut | None = None
        #: Client connections accepted, and how many of them a :class:`ConnectionCut` closed.
        self.connections = 0
        self.cuts = 0

    # ---- control, from the test thread

    @property
    def endpoint(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._failure is not None:
            raise RuntimeError(f"fault proxy did not start: {self._failure}") from self._failure
        if not self.port:
            raise RuntimeError("fault proxy did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(15)
        self._thread = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: PathMatcher | None = None,
        header: str | None = None,
        times: int | None = None,
        probability: float | None = None,
        seed: int = 0,
        per_second: float | None = None,
    ) -> Rule:
        """Add a rule (evaluated after the ones already there) and return it for its counters."""
        rule = Rule(action, method, path, header, times, probability, seed, per_second)
        with self._lock:
            self._rules.append(rule)
        return rule

    def cut_connections(self, cut: ConnectionCut | None) -> None:
        """Close connections as ``cut`` says from now on, counting the bytes they carried before (``None``: no more
        cuts).  It applies to the connections already open too: a client keeps its connections alive."""
        with self._lock:
            self._cut = cut

    def clear(self) -> None:
        """Remove every rule (the request log stays)."""
        with self._lock:
            self._rules.clear()

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def count(self, method: str | None = None, path: str | None = None, *, faulted: bool | None = None) -> int:
        """How many logged requests have this method, a target matching ``path``, and were (not) faulted."""
        pattern = re.compile(path) if path is not None else None
        return sum(
            1
            for s in self.seen
            if (method is None or s.method == method.upper())
            and (pattern is None or pattern.search(s.target))
            and (faulted is None or (s.fault is not None) == faulted)
        )

    def stop_listening(self) -> None:
        """Close the listening socket: new connections are refused until :meth:`start_listening`."""
        self._call(self._stop_listening())

    def start_listening(self) -> None:
        self._call(self._listen())

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ---- the loop thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as err:  # reported by start()
            self._failure = err
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await self._listen()
        self._ready.set()
        await self._stopping.wait()
        await self._stop_listening()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._handle, self.host, self.port, ssl=self._server_tls)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def _decide(self, request: Request) -> tuple[Action | None, int]:
        with self._lock:
            self._number += 1
            chosen: Action | None = None
            for rule in self._rules:
                if rule.matches(request):
                    chosen = rule.fire()
                    if chosen is not None:
                        break
            fault = None if chosen is None else _describe(chosen)
            self._seen.append(Seen(request.method, request.target, fault, request.headers, time.monotonic()))
            return chosen, self._number

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        # No user-space write buffering: a fault "after N bytes" lands after N bytes.  (Over TLS a limit
        # of 0 never lets drain() return on CPython 3.11's SSL transport; 1 byte is as good.)
        writer.transport.set_write_buffer_limits(high=0 if self._server_tls is None else 1)
        with self._lock:
            self.connections += 1
            number = self.connections

        def cut() -> ConnectionCut | None:  # the cut in force now, if it applies to this connection
            chosen = self._cut
            return chosen if chosen is not None and number % chosen.every == 0 else None

        def close() -> None:  # a FIN once what was written has gone out: the client sees the stream end
            with self._lock:
                self.cuts += 1
            writer.transport.close()

        reader = cast("asyncio.StreamReader", _CutReader(reader, lambda: (c := cut()) and c.request_bytes, close))
        writer = cast("asyncio.StreamWriter", _CutWriter(writer, lambda: (c := cut()) and c.response_bytes, close))
        try:
            while await self._serve_one(reader, writer):
                pass
        except (_Abort, asyncio.CancelledError):
            pass
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass  # the client went away or spoke nonsense: drop the connection
        finally:
            self._tasks.discard(task)
            if not writer.transport.is_closing():
                writer.close()
            with contextlib.suppress(BaseException):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the client connection stays open."""
        head = await _read_head(reader)
        if head is None:
            return False
        method, target, version = head.first.split(" ", 2)
        request = Request(method.upper(), target, tuple(head.headers))
        action, number = self._decide(request)
        expect = (head.get("Expect") or "").lower() == "100-continue"
        keep_alive = version.upper() == "HTTP/1.1" and (head.get("Connection") or "").lower() != "close"
        keep_alive = keep_alive and (self._cut is None or self._cut.keep_alive)

        if isinstance(action, ResetRequest):
            if expect:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            await _relay_request_body(reader, head, None, limit=action.after_bytes)
            _reset(writer)
            raise _Abort
        if isinstance(action, Reply):
            if expect:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            await _relay_request_body(reader, head, None)
            writer.write(_canned_response(action, number, keep_alive))
            await writer.drain()
            return keep_alive
        if isinstance(action, Error) or (isinstance(action, Stall) and action.after_bytes is None):
            if expect:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                await writer.drain()
            await _relay_request_body(reader, head, None)
            if isinstance(action, Stall):
                await asyncio.sleep(action.seconds)
                raise _Abort
            writer.write(_error_response(action, request, number, keep_alive))
            await writer.drain()
            return keep_alive
        if isinstance(action, Delay):
            await asyncio.sleep(action.seconds)
        if isinstance(action, IgnoreDigests):
            return await self._ignore_digests(request, head, reader, writer, number, expect=expect,
                                              keep_alive=keep_alive)  # fmt: skip
        if isinstance(action, FlipUpload):
            return await self._flip_upload(request, head, reader, writer, action, expect=expect, keep_alive=keep_alive)
        if isinstance(action, VerifyBody):
            return await self._verify(request, head, reader, writer, number, expect=expect, keep_alive=keep_alive)
        return await self._forward(request, head, reader, writer, action, expect=expect, keep_alive=keep_alive)

    async def _verify(self, request: Request, head: _Head, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter, number: int, *, expect: bool,
                      keep_alive: bool) -> bool:  # fmt: skip
        kind, length = _framing(head)
        if kind == "chunked":
            refusal = Error(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
            writer.write(_error_response(refusal, request, number, False))
            await writer.drain()
            return False  # the chunked body is never read: the connection cannot be reused
        if expect:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await reader.readexactly(length) if kind == "length" else b""
        refusal = _body_refusal(head, body)
        if refusal is not None:
            writer.write(_error_response(refusal, request, number, keep_alive))
            await writer.drain()
            return keep_alive
        return await self._forward(request, head, reader, writer, None, expect=False, keep_alive=keep_alive, body=body)

    async def _ignore_digests(self, request: Request, head: _Head, reader: asyncio.StreamReader,
                              writer: asyncio.StreamWriter, number: int, *, expect: bool,
                              keep_alive: bool) -> bool:  # fmt: skip
        kind, length = _framing(head)
        if expect:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = await reader.readexactly(length) if kind == "length" else b""
        crc = head.get("x-amz-checksum-crc32c")
        wrong_crc = crc is not None and crc != base64.b64encode(crc32c.crc32c(body).to_bytes(4, "big")).decode()
        if _body_refusal(head, body) is None and not wrong_crc:
            return await self._forward(request, head, reader, writer, None, expect=False, keep_alive=keep_alive,
                                       body=body)  # fmt: skip
        echoed = [f"{name}: {value}" for name, value in head.headers
                  if name.lower().startswith("x-amz-checksum-") or name.lower() == "content-md5"]  # fmt: skip
        answer = [
            "HTTP/1.1 200 OK", f"ETag: \"{hashlib.md5(body).hexdigest()}\"", *echoed, "Content-Length: 0",
            f"x-amz-request-id: ignored-{number}", f"Connection: {'keep-alive' if keep_alive else 'close'}", "", "",
        ]  # fmt: skip
        writer.write("\r\n".join(answer).encode("latin-1"))
        await writer.drain()
        return keep_alive

    async def _flip_upload(self, request: Request, head: _Head, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter, action: FlipUpload, *, expect: bool,
                           keep_alive: bool) -> bool:  # fmt: skip
        """Read the whole body, flip one bit of it, and forward it with the client's headers."""
        kind, length = _framing(head)
        if expect:
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = bytearray()
        if kind == "length":
            body = bytearray(await reader.readexactly(length))
        elif kind == "chunked":
            body = bytearray(b"".join([piece async for piece in _body_pieces(reader, kind, length)]))
            head = _Head(head.first, *_unchunked(head, len(body)))
        if body:
            body[min(action.offset, len(body) - 1)] ^= 0x01
        return await self._forward(request, head, reader, writer, None, expect=False, keep_alive=keep_alive,
                                   body=bytes(body))  # fmt: skip

    async def _forward(self, request: Request, head: _Head, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, action: Action | None, *, expect: bool,
                       keep_alive: bool, body: bytes | None = None) -> bool:  # fmt: skip
        """Relay the request upstream (its body from ``reader``, or ``body`` when already read) and the answer back."""
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, ssl=self._upstream_tls)
        except OSError:
            if expect:
                keep_alive = False  # the body was never sent; the connection cannot be reused
            writer.write(_error_response(Error(502, "BadGateway", "upstream refused"), request, 0, keep_alive))
            await writer.drain()
            return keep_alive
        try:
            lines = [line for name, line in zip(head.headers, head.lines) if name[0].lower() not in _HOP_BY_HOP]
            # Kept alive upstream, though used once: a store that answers before the body (RGW's 404 for
            # a missing bucket) closes a ``Connection: close`` socket at once, and the rest of the body
            # relayed after it would meet a reset, not the answer.  Kept alive, the store reads it and
            # throws it away; the socket is closed below.
            up_writer.write(b"\r\n".join([head.first.encode("latin-1"), *lines, b"", b""]))
            body_sent = not expect
            if body is not None:
                up_writer.write(body)  # an interim 100 Continue upstream is skipped below
                await up_writer.drain()
            elif body_sent:
                await _relay_request_body(reader, head, up_writer)
            while True:
                answer = await _read_head(up_reader)
                if answer is None:
                    raise ConnectionResetError("upstream closed without answering")
                status = int(answer.first.split(" ", 2)[1])
                if status == 100 and not body_sent:
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                    await _relay_request_body(reader, head, up_writer)
                    body_sent = True
                    continue
                if 100 <= status < 200:
                    continue
                break
            if not body_sent:
                keep_alive = False  # the upstream answered before the body; the client never sends it
            if request.method == "HEAD" or status in (204, 304):
                kind, length = "length", 0
                has_body = False
            else:
                kind, length = _framing(answer)
                has_body = True
            if kind == "eof":
                keep_alive = False
            out = [answer.first.encode("latin-1")]
            out += [line for name, line in zip(answer.headers, answer.lines) if name[0].lower() not in _HOP_BY_HOP]
            out.append(b"Connection: keep-alive" if keep_alive else b"Connection: close")
            writer.write(b"\r\n".join([*out, b"", b""]))
            await writer.drain()
            if has_body:
                await self._send_body(up_reader, writer, kind, length, action)
            return keep_alive
        finally:
            await _close(up_writer)

    async def _send_body(self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str,
                         length: int, action: Action | None) -> None:  # fmt: skip
        """Relay the response body, applying a body fault; raise :class:`_Abort` when the fault ends it."""
        limit: int | None = None
        if isinstance(action, (ResetResponse, Truncate)):
            limit = action.after_bytes
        elif isinstance(action, Stall):
            limit = action.after_bytes
        flip = action.offset if isinstance(action, FlipByte) else -1
        sent = 0

        def framed(piece: bytes) -> bytes:
            return b"%x\r\n%s\r\n" % (len(piece), piece) if kind == "chunked" and piece else piece

        async for piece in _body_pieces(up_reader, kind, length):
            if sent <= flip < sent + len(piece):
                changed = bytearray(piece)
                changed[flip - sent] ^= 0xFF
                piece = bytes(changed)
            if limit is not None and sent + len(piece) >= limit:
                writer.write(framed(piece[: limit - sent]))
                await writer.drain()
                await self._end_body(writer, action)
            writer.write(framed(piece))
            await writer.drain()
            sent += len(piece)
        if kind == "chunked":
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    @staticmethod
    async def _end_body(writer: asyncio.StreamWriter, action: Action | None) -> None:
        if isinstance(action, Truncate):
            await _close(writer)
        elif isinstance(action, ResetResponse):
            await asyncio.sleep(0.05)  # let the bytes already written reach the client first
            _reset(writer)
        elif isinstance(action, Stall):
            await asyncio.sleep(action.seconds)
            await _close(writer)
        raise _Abort
