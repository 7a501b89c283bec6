"""botocore hooks for the modes of :mod:`gps3async.core.storemodes.settings`, wired in by :mod:`gps3async.s3.client`.

``payload_signing: signed``: botocore's S3 signer hashes every body itself,
synchronously, on the event loop (about 20 ms per 8 MiB part on a CPU without
SHA extensions, during which no other part moves).  The plugin instead hashes
each part once in a worker thread, together with its CRC-32C, and hands the
hex digest to the signer:

1. the store passes it as an extra call parameter, :data:`PAYLOAD_SHA256`;
2. a ``before-parameter-build.s3`` handler moves it from the parameters
   (where botocore's validation would refuse it) into the request context;
3. a ``choose-signer.s3`` handler, registered on this client only, selects
   :class:`PrecomputedPayloadSigner`, whose ``payload()`` returns the context's
   digest and otherwise lets botocore hash the (small) body as usual.

The signer is found by name in ``botocore.auth.AUTH_TYPE_MAPS``, where botocore
itself registers optional signers (the CRT ones); the name added here is used
by no one else, so every other client, in this process or not, signs as before.
The alternatives were worse: a contextvar read by the signer couples the hash
to whatever else runs in the task, and replacing ``S3SigV4Auth.payload`` or the
``s3v4`` entry would change every client.

``upload_checksum: md5`` or ``none``: DeleteObjects and PutObjectRetention are
operations that require a checksum, and botocore then adds ``x-amz-checksum-crc32`` and
``x-amz-sdk-checksum-algorithm`` even with ``request_checksum_calculation:
when_required``.  Stores that predate S3's additional checksums refuse those,
so a ``before-call.s3.<operation>`` handler replaces them with ``Content-MD5``
(the small XML body is hashed on the loop), as the Go plugin sends.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from botocore.auth import AUTH_TYPE_MAPS, S3SigV4Auth

__all__ = ["PAYLOAD_SHA256", "SIGNER_NAME", "PrecomputedPayloadSigner", "register"]

#: The call parameter carrying a body's hex SHA-256 (never sent: moved into the context).
PAYLOAD_SHA256 = "GpS3AsyncPayloadSha256"
_CONTEXT_KEY = "gps3async_payload_sha256"
#: Operations botocore must send a checksum with (S3 requires one), which md5 and none modes send as Content-MD5.
_CHECKSUM_REQUIRED = ("DeleteObjects", "PutObjectRetention")
#: The signature version name of :class:`PrecomputedPayloadSigner`.
SIGNER_NAME = "gps3async-s3v4-signed-payload"
#: Signature versions the plugin's client signs with (botocore passes the operation's auth type or ``s3v4``).
_SIGV4 = frozenset({"v4", "s3v4", "v4-unsigned-body"})


class PrecomputedPayloadSigner(S3SigV4Auth):  # type: ignore[misc]  # botocore has no type hints
    """S3 SigV4 that always signs the payload, with the SHA-256 the caller computed when there is one."""

    def _should_sha256_sign_payload(self, request: Any) -> bool:
        return True

    def payload(self, request: Any) -> str:
        precomputed = request.context.get(_CONTEXT_KEY)
        return str(precomputed) if precomputed else str(super().payload(request))


AUTH_TYPE_MAPS.setdefault(SIGNER_NAME, PrecomputedPayloadSigner)


def _take_payload_sha256(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    digest = params.pop(PAYLOAD_SHA256, None)
    if digest:
        context[_CONTEXT_KEY] = digest


def _choose_signed_payload(signature_version: Any, **_: Any) -> str | None:
    """This client's signer for standard SigV4 requests; anything else (presigning, unsigned) stays botocore's."""
    return SIGNER_NAME if signature_version in _SIGV4 else None


def _content_md5_instead_of_checksum(params: dict[str, Any], **_: Any) -> None:
    """A checksum-required call with Content-MD5 and no ``x-amz-checksum-*`` or ``x-amz-sdk-checksum-algorithm``."""
    checksum = params.get("context", {}).get("checksum", {})
    checksum.pop("request_algorithm", None)
    checksum.pop("request_algorithm_header", None)
    body = params.get("body") or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    params["headers"]["Content-MD5"] = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def register(events: Any, *, signed: bool, upload_checksum: str) -> None:
    """Register the hooks ``payload_signing`` and ``upload_checksum`` need on one client's event system."""
    if signed:
        events.register("before-parameter-build.s3", _take_payload_sha256)
        events.register_first("choose-signer.s3", _choose_signed_payload)
    if upload_checksum != "crc32c":
        for operation in _CHECKSUM_REQUIRED:
            events.register(f"before-call.s3.{operation}", _content_md5_instead_of_checksum)
