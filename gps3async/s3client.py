"""Building the aiobotocore S3 client: configuration, connection pool and event hooks.

This module owns how gps3async talks HTTP: path-style addressing like the Go
plugin, unsigned payloads protected by CRC-32C, botocore's standard retries
(each failed attempt logged), the proxy, timeouts, a hook for
``remove_duplicate_bucket``, and the HTTP layer underneath:
:class:`gps3async.http.BufferedHttpSession`, plugged in through
aiobotocore's ``http_session_cls``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from . import __version__
from .s3errors import RETRYABLE_CODES
from .storage import S3Store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from .config import PluginConfig

__all__ = ["open_store"]

log = logging.getLogger("gps3async")


def _log_retry(attempts: int, operation: Any, response: Any = None, caught_exception: Any = None, **_: Any) -> None:
    """Log every failed attempt botocore may retry, so retries show in the plugin log.

    Registered first on ``needs-retry``: it returns ``None`` and leaves the
    decision (and the back-off) to botocore's standard retry mode.
    """
    if caught_exception is not None:
        cause = f"{type(caught_exception).__name__}: {caught_exception}"
    elif response is not None:
        status = int(response[0].status_code)
        code = str(response[1].get("Error", {}).get("Code", ""))
        if status < 500 and status != 429 and code not in RETRYABLE_CODES:
            return
        cause = f"HTTP {status} {code}".strip()
    else:
        return
    log.info("%s attempt %d failed (%s)", getattr(operation, "name", "request"), attempts, cause)


def _strip_bucket_from_path(bucket: str) -> Any:
    """For ``remove_duplicate_bucket: true``: the endpoint URL already names the bucket."""

    def handler(request: Any, **_: Any) -> None:
        parts = urlsplit(request.url)
        marker = f"/{bucket}"
        if parts.path == marker or parts.path.startswith(marker + "/"):
            path = parts.path[len(marker) :] or "/"
            request.url = urlunsplit(parts._replace(path=path))

    return handler


def _timestamp_as_sent(value: str) -> str:
    """Leave a timestamp header as the server sent it.

    botocore parses every timestamp in a response with dateutil (``LastModified``
    on each GET and HEAD, about a tenth of a millisecond of CPU); gps3async
    reads none of them, so the parser keeps the text.
    """
    return value


def _uses_tls(config: PluginConfig) -> bool:
    """Whether any connection may use TLS (the endpoint or the proxy).

    Without TLS there is nothing to verify, and ``verify=False`` spares every
    plugin process the loading of the system's CA bundle (about 60 ms of CPU,
    which per-table backups pay once per table per segment).
    """
    endpoint = config.endpoint_url
    plain_endpoint = endpoint.startswith("http://") if endpoint else not config.encryption
    return not plain_endpoint or config.http_proxy.startswith("https://")


@contextlib.asynccontextmanager
async def open_store(config: PluginConfig, *, concurrency: int) -> AsyncIterator[S3Store]:
    """An :class:`S3Store` for ``config``, its connection pool sized for ``concurrency``."""
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    from .http import BufferedHttpSession

    proxies = {"http": config.http_proxy, "https": config.http_proxy} if config.http_proxy else None
    client_config = AioConfig(
        signature_version="s3v4",
        # Path-style like the Go plugin; payload signing off because every body
        # carries a CRC-32C checksum the server verifies (see README, Integrity).
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": config.max_attempts},
        max_pool_connections=max(concurrency + 2, 4),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        proxies=proxies,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        # Our own HTTP/1.1 layer: bodies go to and come from the pool's buffers without copies.
        http_session_cls=BufferedHttpSession,
        # A fixed User-Agent: botocore otherwise assembles and sanitises its own from some fifty
        # components twice per request (about a sixth of its per-request CPU).
        user_agent=f"gpbackup_s3_plugin/{__version__} gps3async",
    )
    session = get_session()
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp_as_sent)
    credentials: dict[str, str] = {}
    if config.access_key_id:
        credentials = {"aws_access_key_id": config.access_key_id, "aws_secret_access_key": config.secret_access_key}
    async with session.create_client(
        "s3",
        region_name=config.region or "us-east-1",
        endpoint_url=config.endpoint_url,
        use_ssl=config.encryption,
        verify=None if _uses_tls(config) else False,
        config=client_config,
        **credentials,
    ) as client:
        client.meta.events.register_first("needs-retry.s3", _log_retry)
        if config.remove_duplicate_bucket:
            client.meta.events.register("before-sign.s3", _strip_bucket_from_path(config.bucket))
        yield S3Store(client, config.bucket)
