"""The HTTP layer's failures as the botocore exceptions its callers already classify.

Request phase (connecting, sending, reading the head, reading a small body
in full): botocore's standard retry mode retries ``ConnectionError`` and
``HTTPClientError`` kinds, so every failure maps onto one of them, as
aiobotocore's own aiohttp session does.  Body phase (a streamed GetObject
body): the kinds :func:`gps3async.s3.errors.is_stream_error` recognises, so a
ranged GET resumes from its last byte.  Proxy URLs are masked (they may carry
credentials); nothing else in a message comes from request headers.
"""

from __future__ import annotations

from typing import Any

from .errors import (
    BodyEndedEarly,
    ConnectFailed,
    ConnectionClosed,
    ConnectTimeout,
    HttpError,
    ProtocolViolation,
    ProxyFailed,
    ReadTimeout,
    TlsFailed,
)

__all__ = ["body_error", "request_error"]


def request_error(err: HttpError, url: str, proxy_url: str | None) -> Exception:
    """The botocore exception for ``err`` raised before a response could be handed over."""
    from botocore import exceptions as boto
    from botocore.httpsession import mask_proxy_url

    kind: Any = boto.HTTPClientError
    details: dict[str, Any] = {"endpoint_url": url}
    if isinstance(err, TlsFailed):
        kind = boto.SSLError
    elif isinstance(err, ConnectTimeout):
        kind = boto.ConnectTimeoutError
    elif isinstance(err, (ProxyFailed, ConnectFailed)) and proxy_url:
        kind, details = boto.ProxyConnectionError, {"proxy_url": mask_proxy_url(proxy_url)}
    elif isinstance(err, ConnectFailed):
        kind = boto.EndpointConnectionError
    elif isinstance(err, ReadTimeout):
        kind = boto.ReadTimeoutError
    elif isinstance(err, (ConnectionClosed, ProtocolViolation)):
        kind = boto.ConnectionClosedError
    mapped: Exception = kind(error=err, **details)
    return mapped


def body_error(err: HttpError, url: str) -> Exception:
    """The botocore exception for ``err`` raised while a streamed body was being read."""
    from botocore import exceptions as boto

    mapped: Exception
    if isinstance(err, ReadTimeout):
        mapped = boto.ReadTimeoutError(endpoint_url=url, error=err)
    elif isinstance(err, BodyEndedEarly):
        mapped = boto.IncompleteReadError(actual_bytes=err.received, expected_bytes=err.expected)
    else:
        mapped = boto.ResponseStreamingError(error=err)
    return mapped
