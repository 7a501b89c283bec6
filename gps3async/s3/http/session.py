"""``BufferedHttpSession``: aiobotocore's HTTP session, done on our own connections.

aiobotocore builds its HTTP session from ``AioConfig(http_session_cls=...)``,
its documented extension point (it ships an aiohttp and an httpx session
that way).  This session keeps everything above the wire to aiobotocore and
botocore (signing, retries and back-off, XML, errors, endpoints) and does
the HTTP/1.1 exchange itself: request bodies go to the transport as views of
the caller's buffers, response bodies come straight into them (see
:mod:`~gps3async.s3.http.connection`).

Its constructor takes the keyword arguments aiobotocore passes every session
class.  ``socket_options`` are accepted and not applied, as in both of
aiobotocore's own sessions.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anyio

from .body import ResponseBody
from .botocore_errors import request_error
from .dial import Dialer, Proxy, Route
from .errors import ConnectionClosed, HttpError
from .pool import ConnectionPool
from .request import body_view, request_head

if TYPE_CHECKING:
    from .connection import Connection
    from .response import ResponseHead

__all__ = ["BufferedHttpSession"]

#: How long a request with ``Expect: 100-continue`` waits for the interim answer before sending its body
#: anyway (urllib3's and so botocore's own figure).
CONTINUE_WAIT = 1.0
_DEFAULT_PORTS = {"http": 80, "https": 443}


class BufferedHttpSession:
    def __init__(
        self,
        verify: bool | str | None = True,
        proxies: dict[str, str] | None = None,
        timeout: float | tuple[float, float] | list[float] | None = None,
        max_pool_connections: int = 10,
        socket_options: list[Any] | None = None,
        client_cert: str | tuple[str, str] | None = None,
        proxies_config: dict[str, Any] | None = None,
        connector_args: dict[str, Any] | None = None,
    ) -> None:
        from botocore.httpsession import ProxyConfiguration

        self._verify = verify
        self._client_cert = client_cert
        self._proxy_config = ProxyConfiguration(proxies=proxies, proxies_settings=proxies_config)
        connect, read = timeout if isinstance(timeout, (tuple, list)) else (timeout, timeout)
        self._read_timeout: float | None = read
        self._tls: ssl.SSLContext | None = None
        self._tls_lock = anyio.Lock()
        keepalive = float((connector_args or {}).get("keepalive_timeout") or 12.0)
        dialer = Dialer(tls_context=self._tls_context, connect_timeout=connect)
        self._pool = ConnectionPool(dialer.open, limit=max_pool_connections, keepalive=keepalive)

    async def __aenter__(self) -> BufferedHttpSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._pool.close()

    async def send(self, request: Any) -> Any:
        """Send one ``AWSPreparedRequest``; return aiobotocore's ``AioAWSResponse`` for it."""
        from aiobotocore.awsrequest import AioAWSResponse

        url = str(request.url)
        proxy_url = self._proxy_config.proxy_url_for(url)
        try:
            route, target = self._route(url, proxy_url)
            body = body_view(request.body)
            headers = self._headers(request, url, route, body)
            read_timeout = (getattr(request, "context", None) or {}).get("read_timeout") or self._read_timeout
            raw = await self._exchange(route, request.method, target, headers, body, read_timeout, url)
            if not request.stream_output:
                await raw.preload()  # small XML answers are read here, as aiobotocore's aiohttp session does
        except HttpError as err:
            raise request_error(err, url, proxy_url) from None
        response = AioAWSResponse(url, raw.status, raw.head_headers, raw)
        if not request.stream_output:
            await response.content
        return response

    # ---- the exchange

    async def _exchange(
        self, route: Route, method: str, target: str, headers: list[tuple[str, str]], body: memoryview | None,
        read_timeout: float | None, url: str,
    ) -> _Raw:  # fmt: skip
        head_bytes = request_head(method, target, headers)
        expect = any(name.lower() == "expect" and value == "100-continue" for name, value in headers)
        connection = await self._pool.lease(route)
        for attempt in (1, 2):
            received_before = connection.received
            try:
                return await self._on(connection, route, head_bytes, body, expect, method, read_timeout, url)
            except ConnectionClosed:
                # A kept-alive connection the server closed just as we reused it: nothing of an answer
                # arrived, so the request is sent again, once, on a new connection.
                if attempt == 2 or not connection.reused or connection.received != received_before:
                    raise
                connection = await self._pool.lease(route, fresh=True)
        raise AssertionError("unreachable")

    async def _on(
        self, connection: Connection, route: Route, head_bytes: bytes, body: memoryview | None, expect: bool,
        method: str, read_timeout: float | None, url: str,
    ) -> _Raw:  # fmt: skip
        """One exchange on a leased connection; the lease passes to the returned body."""
        try:
            connection.read_timeout = read_timeout
            connection.begin(head_only=method == "HEAD")
            connection.write(head_bytes)
            head: ResponseHead | None = None
            if body is not None and expect:
                head = await connection.receive_head(continue_within=CONTINUE_WAIT)
            body_sent = head is None and body is not None
            if body_sent:
                assert body is not None
                connection.write(body)
            if head is None:
                head = await connection.receive_head()
            assert head is not None
        except BaseException:
            connection.abort()
            connection.finish()
            self._pool.give_back(route, connection, reusable=False)
            raise
        # A final answer before the body was sent leaves the server expecting it: never reuse that.
        may_reuse = body is None or body_sent

        def give_back(reusable: bool) -> None:
            self._pool.give_back(route, connection, reusable=reusable)

        return _Raw(connection, head, url, give_back, may_reuse=may_reuse)

    # ---- request preparation

    def _route(self, url: str, proxy_url: str | None) -> tuple[Route, str]:
        """Where ``url`` is sent, and the request target to send (absolute form through a proxy)."""
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname or ""
        port = parts.port or _DEFAULT_PORTS.get(scheme, 80)
        proxy = self._proxy(proxy_url) if proxy_url else None
        route = Route(scheme, host, port, proxy)
        origin_form = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return route, url.split("#", 1)[0] if route.forwarded else origin_form

    def _proxy(self, proxy_url: str) -> Proxy:
        parts = urlsplit(proxy_url)
        scheme = parts.scheme.lower() or "http"
        headers = tuple((str(k), str(v)) for k, v in self._proxy_config.proxy_headers_for(proxy_url).items())
        return Proxy(scheme, parts.hostname or "", parts.port or _DEFAULT_PORTS.get(scheme, 80), headers)

    def _headers(self, request: Any, url: str, route: Route, body: memoryview | None) -> list[tuple[str, str]]:
        headers = [(str(name), _text(value)) for name, value in request.headers.items()]
        names = {name.lower() for name, _ in headers}
        extra = [("Accept-Encoding", "identity")]  # botocore#1255: byte counts must match the wire
        if "host" not in names:
            extra.append(("Host", _host_header(url)))
        if "content-length" not in names and "transfer-encoding" not in names:
            if body is not None or request.method in ("PUT", "POST"):
                extra.append(("Content-Length", str(len(body) if body is not None else 0)))
        if route.forwarded and route.proxy is not None:
            extra += route.proxy.headers
        return [*(h for h in headers if h[0].lower() != "accept-encoding"), *extra]

    async def _tls_context(self) -> ssl.SSLContext:
        """The TLS context, built once and off the event loop (loading CA files is blocking I/O)."""
        async with self._tls_lock:
            if self._tls is None:
                self._tls = await anyio.to_thread.run_sync(self._build_tls_context)
        return self._tls

    def _build_tls_context(self) -> ssl.SSLContext:
        from botocore.httpsession import create_urllib3_context, get_cert_path

        context: ssl.SSLContext = create_urllib3_context()
        if self._verify:
            context.check_hostname = True
            ca_certs = get_cert_path(self._verify)
            if ca_certs:
                context.load_verify_locations(ca_certs)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if isinstance(self._client_cert, str):
            context.load_cert_chain(self._client_cert)
        elif isinstance(self._client_cert, tuple):
            context.load_cert_chain(*self._client_cert)
        return context


class _Raw(ResponseBody):
    """The raw response aiobotocore's ``AioAWSResponse`` wraps: the body, with the head it belongs to."""

    @property
    def status(self) -> int:
        return self._head.status

    @property
    def head_headers(self) -> dict[str, str]:
        return self._head.headers


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _host_header(url: str) -> str:
    """The ``Host`` header botocore signed: lower-case host, port only when not the scheme's default.

    The same rule as botocore's private ``auth._host_from_url``.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host
