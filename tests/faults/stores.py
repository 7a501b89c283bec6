"""Strict S3-compatible stores, emulated by :class:`~tests.faults.proxy.FaultProxy` rules in front of the local server.

Each profile refuses what a kind of on-premises or older store refuses, with
the answer such stores give, and otherwise forwards the request to the real
server (which stores the bytes):

* ``refuses_unsigned`` -- any request with ``x-amz-content-sha256:
  UNSIGNED-PAYLOAD`` is answered 403 (as stores that do not allow the
  unsigned-payload option do); a hex content SHA-256 is checked against the body.
* ``refuses_checksums`` -- any ``x-amz-checksum-*`` or
  ``x-amz-sdk-checksum-algorithm`` header is refused, as by stores that predate
  S3's additional checksums (2022): 501 NotImplemented with S3's own wording
  for CreateMultipartUpload's ``x-amz-checksum-algorithm``, 400 InvalidArgument
  naming the header otherwise.
* ``requires_md5`` -- PutObject, UploadPart and DeleteObjects without
  ``Content-MD5`` are answered 400, and the Content-MD5 given is checked
  against the body (BadDigest on a mismatch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.faults.proxy import VerifyBody, error

if TYPE_CHECKING:
    from tests.faults.proxy import FaultProxy, Request, Rule

__all__ = ["PROFILES", "Profile", "install"]

UNSIGNED = "UNSIGNED-PAYLOAD"


def _unsigned(request: Request) -> bool:
    return request.header("x-amz-content-sha256") == UNSIGNED


def _checksum_headers(request: Request) -> list[str]:
    return [
        name.lower()
        for name, _ in request.headers
        if name.lower().startswith("x-amz-checksum-") or name.lower() == "x-amz-sdk-checksum-algorithm"
    ]


def _declares_algorithm(request: Request) -> bool:
    return request.method == "POST" and request.target.endswith("?uploads") and bool(_checksum_headers(request))


def _writes_a_body(request: Request) -> bool:
    """PutObject and UploadPart (PUT, not a copy) and DeleteObjects (POST ?delete)."""
    put = request.method == "PUT" and request.header("x-amz-copy-source") is None
    return put or (request.method == "POST" and request.target.endswith("?delete"))


@dataclass(frozen=True)
class Profile:
    name: str
    #: What the plugin's stderr line must name when the mode is refused.
    fix: str

    def accepts(self, payload_signing: str, upload_checksum: str) -> bool:
        if self.name == "refuses_unsigned":
            return payload_signing == "signed"
        if self.name == "refuses_checksums":
            return upload_checksum != "crc32c"
        return upload_checksum == "md5"


PROFILES = (
    Profile("refuses_unsigned", "set payload_signing: signed"),
    Profile("refuses_checksums", "set upload_checksum: md5"),
    Profile("requires_md5", "set upload_checksum: md5"),
)


def install(proxy: FaultProxy, profile: Profile) -> Rule:
    """Make ``proxy`` behave like ``profile``; return the rule that checks bodies (its ``matched`` counts them)."""
    if profile.name == "refuses_unsigned":
        proxy.add(error(403, "AccessDenied", "UNSIGNED-PAYLOAD is not allowed"), path=_unsigned)
        return proxy.add(VerifyBody(), path=lambda request: request.method in ("PUT", "POST"))
    if profile.name == "refuses_checksums":
        not_implemented = "A header you provided implies functionality that is not implemented"
        proxy.add(error(501, "NotImplemented", not_implemented), path=_declares_algorithm)
        for header in ("x-amz-checksum-crc32c", "x-amz-checksum-crc32", "x-amz-sdk-checksum-algorithm"):
            proxy.add(error(400, "InvalidArgument", f"Unsupported header {header}"), header=header)
        # Anything else of the family the plugin or botocore might grow: refused all the same.
        proxy.add(error(400, "InvalidArgument", "Unsupported header x-amz-checksum-*"),
                  path=lambda request: bool(_checksum_headers(request)))  # fmt: skip
        return proxy.add(VerifyBody(), path=lambda request: request.method in ("PUT", "POST"))
    missing = "Missing required header for this request: Content-MD5"
    proxy.add(error(400, "InvalidRequest", missing),
              path=lambda request: _writes_a_body(request) and request.header("Content-MD5") is None)  # fmt: skip
    return proxy.add(VerifyBody(), path=_writes_a_body)
