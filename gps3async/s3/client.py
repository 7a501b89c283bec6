"""Building the aiobotocore S3 client: configuration, connection pool and event hooks.

This module owns how gps3async talks HTTP: path-style addressing like the Go
plugin (or virtual-hosted), unsigned payloads protected by CRC-32C by default
(``payload_signing`` and ``upload_checksum`` select others, with the hooks of
:mod:`gps3async.s3.storemodes.signing`), botocore's
standard retries (each failed attempt logged), the proxy, timeouts, TLS
verification (``ca_cert``, ``tls_verify``), credentials (static keys with an
optional session token, a named profile, or the default chain), hooks for
``remove_duplicate_bucket`` and for debug logging of requests, and the HTTP
layer underneath: :class:`gps3async.s3.http.BufferedHttpSession`, plugged in
through aiobotocore's ``http_session_cls``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from .. import __version__
from ..core.credentials import mask_key_id
from ..core.errors import CredentialsError, LocalIOError
from ..core.resumebudget import ResumePolicy
from ..runtime.bandwidth import note_answer
from ..runtime.logs import enabled
from .errors import RETRYABLE_CODES
from .storage import S3Store, WriteOptions

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ..core.config import PluginConfig
    from ..core.storemodes.settings import StoreModes

__all__ = ["credential_source", "describe_settings", "open_store", "tls_verify_arg"]

#: botocore's names for where the default chain found credentials, for people.
_CHAIN_METHODS = {
    "env": "environment variables (AWS_ACCESS_KEY_ID)",
    "shared-credentials-file": "the shared credentials file (~/.aws/credentials)",
    "config-file": "the AWS config file (~/.aws/config)",
    "container-role": "the container role",
    "iam-role": "the instance role (instance metadata)",
    "assume-role": "an assumed role",
    "assume-role-with-web-identity": "a web identity role",
    "sso": "AWS SSO",
    "custom-process": "a credential_process",
}

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


def _host_backoff(response: Any = None, **_: Any) -> bool | None:
    """The ``needs-retry`` hook of the host's back-off (:mod:`gps3async.runtime.bandwidth`).

    botocore emits ``needs-retry`` after every attempt, in the task that made it,
    so the stream it belongs to is known; every answer is reported to the host's
    window.  Registered first, its answer is the one botocore takes: ``False``
    for a throttled attempt the host retries itself (in its own turn, see
    :func:`gps3async.runtime.bandwidth.paced`), otherwise ``None`` and botocore's
    standard retry mode decides.
    """
    if response is None:
        return None
    return note_answer(int(response[0].status_code), str(response[1].get("Error", {}).get("Code", "")))


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


def tls_verify_arg(config: PluginConfig) -> bool | str | None:
    """botocore's ``verify``: ``False`` (no checks), a CA bundle path, or ``None`` (the default bundle).

    Passed to ``create_client``, which every aiobotocore HTTP session honours.
    """
    if not _uses_tls(config) or not config.tls_verify:
        return False
    return config.ca_cert or None


def _log_request(request: Any, **_: Any) -> None:
    """At debug level, one line per S3 request: method and URL, never a header (they carry the token)."""
    if enabled(logging.DEBUG):
        log.debug("request %s %s", request.method, request.url)


def describe_settings(config: PluginConfig) -> str:
    """The S3 settings a verbose log records for every call, without any credential value."""
    sse = config.server_side_encryption + (f" (key {config.sse_kms_key_id})" if config.sse_kms_key_id else "")
    verify = tls_verify_arg(config)
    if not _uses_tls(config):
        tls = "not used"
    else:
        tls = "not verified" if verify is False else f"verified with {verify or 'the default CA bundle'}"
    return (
        f"S3 endpoint {config.endpoint_url or 'AWS'} region {config.region or 'us-east-1'} bucket {config.bucket}"
        f" ({config.addressing_style}-style), TLS {tls}, credentials from {config.credential_source},"
        f" server-side encryption {sse or 'bucket default'}, storage class {config.storage_class or 'bucket default'},"
        f" {config.store_modes.describe()}"
    )


#: One botocore session per profile and process: each client it makes reuses its loaded service model
#: (a fresh session costs about 0.1 s of CPU per client; the store-mode probes and ``check`` make several).
_SESSIONS: dict[str, Any] = {}


def _session(config: PluginConfig) -> Any:
    session = _SESSIONS.get(config.profile)
    if session is None:
        session = _SESSIONS[config.profile] = _new_session(config)
    return session


def _new_session(config: PluginConfig) -> Any:
    from aiobotocore.session import get_session
    from botocore.exceptions import ProfileNotFound

    session = get_session()
    if config.profile:
        session.set_config_variable("profile", config.profile)
        try:
            session.get_scoped_config()
        except ProfileNotFound:
            raise CredentialsError(
                f"aws_profile {config.profile!r} is in neither the AWS credentials nor the config file"
                " (~/.aws/credentials, ~/.aws/config, or AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE)"
            ) from None
    return session


async def credential_source(config: PluginConfig) -> str:
    """Where this config's credentials come from, resolving the chain or profile; never a secret.

    :raises CredentialsError: when the profile or the default chain yields none.
    """
    if config.access_key_id:
        token = ", with a session token" if config.session_token else ""
        return f"{config.credential_source}: access key {mask_key_id(config.access_key_id)}{token}"
    found = await _session(config).get_credentials()
    if found is None:
        raise CredentialsError(
            "no AWS credentials: none in the config, the environment, the shared files or a container or instance role"
        )
    frozen = await found.get_frozen_credentials()
    method = str(getattr(found, "method", "") or "")
    token = ", with a session token" if frozen.token else ""
    where = _CHAIN_METHODS.get(method, method)
    return f"{config.credential_source}: {where}, access key {mask_key_id(frozen.access_key)}{token}"


def _check_ca_cert(config: PluginConfig) -> None:
    if config.ca_cert and _uses_tls(config) and not os.access(config.ca_cert, os.R_OK):
        raise LocalIOError(f"ca_cert {config.ca_cert}: cannot read the CA bundle (missing or not readable)")


@contextlib.asynccontextmanager
async def open_store(
    config: PluginConfig, *, concurrency: int, modes: StoreModes | None = None
) -> AsyncIterator[S3Store]:
    """An :class:`S3Store` for ``config``, its connection pool sized for ``concurrency``, signing and checksumming
    in ``modes`` (default: the configured ones, ``auto`` read as a client that never uploads: see
    :func:`gps3async.core.storemodes.verified.read_modes`; :mod:`gps3async.s3.storemodes.probe` chooses the modes
    of uploads)."""
    from aiobotocore.config import AioConfig

    from ..core.storemodes.verified import read_modes

    _check_ca_cert(config)
    from .http import BufferedHttpSession
    from .storemodes import signing as s3signing

    proxies = {"http": config.http_proxy, "https": config.http_proxy} if config.http_proxy else None
    if modes is None:
        modes = read_modes(config.payload_signing, config.upload_checksum)
    client_config = AioConfig(
        signature_version="s3v4",
        # Path-style by default like the Go plugin; payload signing off unless payload_signing
        # says so, because every body carries a checksum the server verifies (README, Integrity).
        s3={"addressing_style": config.addressing_style, "payload_signing_enabled": modes.signed},
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
    session = _session(config)
    session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp_as_sent)
    credentials: dict[str, str] = {}
    if config.access_key_id:
        credentials = {"aws_access_key_id": config.access_key_id, "aws_secret_access_key": config.secret_access_key}
        if config.session_token:
            credentials["aws_session_token"] = config.session_token
    async with session.create_client(
        "s3",
        region_name=config.region or "us-east-1",
        endpoint_url=config.endpoint_url,
        use_ssl=config.encryption,
        verify=tls_verify_arg(config),
        config=client_config,
        **credentials,
    ) as client:
        client.meta.events.register_first("needs-retry.s3", _log_retry)
        client.meta.events.register_first("needs-retry.s3", _host_backoff)
        client.meta.events.register("before-send.s3", _log_request)
        if config.remove_duplicate_bucket:
            client.meta.events.register("before-sign.s3", _strip_bucket_from_path(config.bucket))
        s3signing.register(client.meta.events, signed=modes.signed, upload_checksum=modes.upload_checksum)
        writes = WriteOptions(
            config.server_side_encryption,
            config.sse_kms_key_id,
            config.storage_class,
            config.object_lock,
            config.folder,
        )
        resume = ResumePolicy(max(config.max_attempts, 1), config.read_timeout)
        yield S3Store(client, config.bucket, writes, modes, digest_attempts=config.max_attempts, resume=resume)
