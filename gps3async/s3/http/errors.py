"""The HTTP layer's own failures, before anyone maps them to botocore's.

Each names what went wrong on the wire; :mod:`~gps3async.s3.http.botocore_errors`
turns them into the botocore exceptions that its retry logic and
:func:`gps3async.s3.errors.is_stream_error` already classify.  Messages never
carry request headers, so no credential can leak through them.

    HttpError
    ├── ConnectFailed          the TCP connection could not be made
    │   ├── ConnectTimeout     ... within the connect timeout
    │   ├── TlsFailed          the TLS handshake (or certificate check) failed
    │   └── ProxyFailed        the proxy refused or broke the CONNECT tunnel
    ├── ReadTimeout            nothing moved for the read timeout
    ├── ConnectionClosed       the peer closed or reset the connection mid-exchange
    │   └── BodyEndedEarly     ... before the Content-Length body was complete
    └── ProtocolViolation      the peer sent something that is not HTTP/1.1
"""

from __future__ import annotations

__all__ = [
    "BodyEndedEarly",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionClosed",
    "HttpError",
    "ProtocolViolation",
    "ProxyFailed",
    "ReadTimeout",
    "TlsFailed",
]


class HttpError(Exception):
    """Base of every failure the HTTP layer raises."""


class ConnectFailed(HttpError):
    pass


class ConnectTimeout(ConnectFailed):
    pass


class TlsFailed(ConnectFailed):
    pass


class ProxyFailed(ConnectFailed):
    pass


class ReadTimeout(HttpError):
    pass


class ConnectionClosed(HttpError):
    pass


class BodyEndedEarly(ConnectionClosed):
    def __init__(self, received: int, expected: int) -> None:
        super().__init__(f"body ended after {received} of {expected} bytes")
        self.received, self.expected = received, expected


class ProtocolViolation(HttpError):
    pass
