"""S3 failures in the plugin's terms: botocore exceptions to :mod:`gps3async.core.errors`.

Messages are built from the operation, the object and S3's error code and
message only, never from request headers or URLs with credentials, so no
secret can reach stderr or the log.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import (
    AccessDenied,
    BucketNotFound,
    IntegrityError,
    ModeRefused,
    ObjectNotFound,
    StorageError,
    TransientStorageError,
    UploadNotFound,
)
from ..core.objectlock import lock_refusal
from ..core.storemodes.settings import StoreModes, refusal_fix

__all__ = ["RETRYABLE_CODES", "error_code", "is_stream_error", "translate"]

#: S3 error codes that botocore's standard retry mode retries.
RETRYABLE_CODES = frozenset({"RequestTimeout", "SlowDown", "InternalError", "ServiceUnavailable", "Throttling"})


def error_code(err: Any) -> tuple[str, int]:
    response = getattr(err, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def translate(err: Exception, what: str, modes: StoreModes | None = None) -> Exception:
    """Map a botocore failure to a plugin error carrying one readable line.

    A refusal of the ``payload_signing`` or ``upload_checksum`` in use
    (``modes``, default the defaults) names the value to set instead: a
    store that refuses unsigned payloads often says so with a 403, which
    would otherwise read as a missing permission.
    """
    from botocore.exceptions import ClientError, NoCredentialsError

    if isinstance(err, NoCredentialsError):
        return AccessDenied(f"{what}: no AWS credentials (set aws_access_key_id and aws_secret_access_key)")
    if not isinstance(err, ClientError):
        return TransientStorageError(f"{what}: {type(err).__name__}: {err}")
    code, status = error_code(err)
    message = str(err.response.get("Error", {}).get("Message", "") or "")
    detail = f"{code or status} {message}".strip()
    refusal = refusal_fix(code, message, modes or StoreModes())
    if refusal is not None:
        why = "; S3 requires a digest on a write with Object Lock headers" if "object lock" in message.lower() else ""
        return ModeRefused(f"{what}: {detail} ({refusal}{why})", refusal.setting)
    lock_fix = lock_refusal(code, status, message)
    if lock_fix is not None:
        return StorageError(f"{what}: {detail} ({lock_fix})")
    if code in ("NoSuchKey", "NotFound") or (status == 404 and code in ("", "404")):
        return ObjectNotFound(f"{what}: object not found")
    if code == "NoSuchBucket":
        return BucketNotFound(f"{what}: bucket does not exist")
    if code == "NoSuchUpload":
        return UploadNotFound(f"{what}: multipart upload no longer exists")
    if code == "InvalidObjectState":
        # 403 like a denial, but no permission helps: the bytes are in Glacier or Deep Archive.
        return StorageError(
            f"{what}: the object is in an archive storage class and must be restored first"
            " (S3 RestoreObject, e.g. aws s3api restore-object), then retry once the restore completes"
        )
    if status == 403 or code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return AccessDenied(f"{what}: access denied ({detail})")
    if code == "PreconditionFailed" or status == 412:
        return IntegrityError(f"{what}: object changed while it was being read (ETag mismatch)")
    if status >= 500 or code in ("SlowDown", "RequestTimeout", "InternalError"):
        return TransientStorageError(f"{what}: {detail} (retries exhausted)")
    return StorageError(f"{what}: {detail}")


def is_stream_error(err: BaseException) -> bool:
    """Whether ``err`` broke a response body off mid-stream (the GET resumes after the bytes it got)."""
    from botocore.exceptions import (
        ConnectionClosedError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )

    streaming = (ResponseStreamingError, ReadTimeoutError, IncompleteReadError, ConnectionClosedError)
    return isinstance(err, (*streaming, ConnectionError, TimeoutError))
