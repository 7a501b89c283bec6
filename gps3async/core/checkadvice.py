"""What the ``check`` verb tells an operator: likely fixes and tuning suggestions (pure).

:mod:`gps3async.commands.check` runs the S3 operations and measures the link; this
module turns each failure into the change most likely to fix it and the
measurements into a chunk size and a concurrency.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import (
    AccessDenied,
    BucketNotFound,
    CredentialsError,
    GpS3Error,
    LocalIOError,
    ModeRefused,
    TransientStorageError,
)

if TYPE_CHECKING:
    from .storemodes.settings import StoreModes

__all__ = ["IAM_ACTIONS", "LinkSample", "Suggestion", "likely_fix", "mode_settings", "suggest"]

MIB = 1024 * 1024

#: The IAM permission each S3 operation of a backup or restore needs.
IAM_ACTIONS = {
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "DeleteObjects": "s3:DeleteObject",
    "DeleteObject": "s3:DeleteObject",
    "Object Lock": "s3:GetBucketObjectLockConfiguration",
    "versioning": "s3:GetBucketVersioning",
    "PutObjectRetention": "s3:PutObjectRetention",
    "GetObjectRetention": "s3:GetObjectRetention",
    "ListObjectVersions": "s3:ListBucketVersions",
    "locked PutObject": "s3:PutObject and s3:PutObjectRetention",
}
_ON_BUCKET = (
    "ListObjectsV2", "ListMultipartUploads", "Object Lock", "versioning", "ListObjectVersions",
)  # fmt: skip
_WRITES = ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")


def likely_fix(operation: str, err: GpS3Error, *, bucket: str, folder: str, kms: bool) -> str:
    """The change most likely to make ``operation`` succeed after it failed with ``err``."""
    text = str(err)
    if isinstance(err, ModeRefused):  # before AccessDenied: such stores often refuse with a 403
        return f"{err.fix} (see the store modes lines)"
    if isinstance(err, CredentialsError) or "no AWS credentials" in text:
        return "give credentials: aws_access_key_id/aws_secret_access_key, aws_profile, or an instance role"
    if "InvalidAccessKeyId" in text:
        return "the access key id is not known to the server: check aws_access_key_id"
    if "SignatureDoesNotMatch" in text:
        return "the secret does not match the access key id: check aws_secret_access_key (and region)"
    if "ExpiredToken" in text or "InvalidToken" in text:
        return "the session token expired or is invalid: renew aws_session_token"
    if "KMS" in text or (kms and isinstance(err, AccessDenied) and operation in (*_WRITES, "GetObject")):
        return "allow kms:GenerateDataKey and kms:Decrypt on the KMS key (sse_kms_key_id) to this identity"
    if isinstance(err, AccessDenied):
        action = IAM_ACTIONS.get(operation, "s3:*")
        resource = f"arn:aws:s3:::{bucket}" if operation in _ON_BUCKET else f"arn:aws:s3:::{bucket}/{folder}/*"
        return f"allow {action} on {resource} to this identity (bucket policy or IAM policy)"
    if isinstance(err, BucketNotFound):
        return f"create bucket {bucket!r} or correct the bucket option"
    if "CERTIFICATE_VERIFY_FAILED" in text.upper().replace(" ", "_"):
        return "set ca_cert to the PEM bundle of the CA that signed the endpoint's certificate"
    if isinstance(err, LocalIOError):
        return "correct the local file the message names"
    if isinstance(err, TransientStorageError):
        return "check endpoint, encryption (http or https), http_proxy and the network path to the endpoint"
    return "see the S3 error above; the server's own log may say more"


def mode_settings(works: StoreModes, configured: StoreModes) -> str:
    """The option lines that turn ``configured`` into ``works``, as they go into the config."""
    changes = [
        f"{name}: {value}"
        for name, value, was in (
            ("payload_signing", works.payload_signing, configured.payload_signing),
            ("upload_checksum", works.upload_checksum, configured.upload_checksum),
        )
        if value != was
    ]
    return ", ".join(changes) or works.describe()


@dataclass(frozen=True)
class LinkSample:
    """One measurement: ``nbytes`` moved in ``seconds`` by ``streams`` requests at once."""

    nbytes: int
    seconds: float
    streams: int

    @property
    def bytes_per_second(self) -> float:
        return self.nbytes / max(self.seconds, 1e-6)


@dataclass(frozen=True)
class Suggestion:
    chunksize: int
    concurrency: int
    why: str


def suggest(latency: float, alone: LinkSample, together: LinkSample) -> Suggestion:
    """A chunk size and a concurrency for a link with this request ``latency`` and these samples.

    The chunk is the smallest of 16, 32 and 64 MiB whose transfer takes at
    least nine times the request latency (latency then costs at most 10 % of a
    request), so high-latency links get bigger parts.  The concurrency follows
    how much requests in parallel gained over one: near-linear gain means one
    stream leaves the link idle (8); some gain, the default (4); none, 2 (one
    request in flight while the next part is read).
    """
    per_stream = max(alone.bytes_per_second, 1.0)
    chunk = next((mib * MIB for mib in (16, 32, 64) if mib * MIB / per_stream >= 9 * latency), 64 * MIB)
    gain = together.bytes_per_second / per_stream
    if gain >= 0.75 * together.streams:
        concurrency, how = 8, "requests in parallel scale almost linearly"
    elif gain >= 1.3:
        concurrency, how = 4, "requests in parallel gain some"
    else:
        concurrency, how = 2, "one request already fills the link"
    latency_ms = math.ceil(latency * 1000)
    why = f"{latency_ms} ms per request, {per_stream / 1e6:.1f} MB/s per request; "
    why += f"{how} (x{gain:.1f} with {together.streams})"
    return Suggestion(chunk, concurrency, why)
