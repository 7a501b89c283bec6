"""The exception tree of gps3async; this module owns every error the plugin reports.

::

    GpS3Error                       one-line message for stderr, exit_code hint
    ├── UsageError                  wrong verb or argument count (exit 2)
    ├── ConfigError                 the plugin config file is unusable
    ├── CredentialsError            the credentials the config names cannot be found
    ├── LocalIOError                a local file, stdin or stdout failed
    │   └── BrokenOutput            the reader of stdout went away (EPIPE)
    ├── StorageError                S3 answered with a failure
    │   ├── ObjectNotFound          NoSuchKey / 404
    │   ├── BucketNotFound          NoSuchBucket
    │   ├── UploadNotFound          NoSuchUpload: the multipart upload was completed or aborted
    │   ├── AccessDenied            403, bad credentials or signature
    │   ├── ModeRefused             the store does not support payload_signing/upload_checksum in use
    │   └── TransientStorageError   retries exhausted on a retryable fault
    ├── IntegrityError              bytes differ from what S3 promised (or fail their encryption tag)
    ├── EncryptionKeyError          no configured key opens an object, or a key file is unusable
    └── PartLimitExceeded           the stream outgrew S3's multipart limits

Messages never contain credentials: the storage layer builds them from the
operation, the bucket/key and the S3 error code only.
"""

from __future__ import annotations

__all__ = [
    "AccessDenied",
    "BrokenOutput",
    "BucketNotFound",
    "ConfigError",
    "CredentialsError",
    "EncryptionKeyError",
    "GpS3Error",
    "IntegrityError",
    "LocalIOError",
    "ModeRefused",
    "ObjectNotFound",
    "PartLimitExceeded",
    "StorageError",
    "TransientStorageError",
    "UploadNotFound",
    "UsageError",
    "first_plugin_error",
]


class GpS3Error(Exception):
    """Base class: ``str(err)`` is the single line written to stderr."""

    exit_code: int = 1


class UsageError(GpS3Error):
    exit_code = 2


class ConfigError(GpS3Error):
    """One or more problems in the config file, one per line in ``problems``."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = list(problems)
        super().__init__(f"invalid plugin config {source}: " + "; ".join(self.problems))


class CredentialsError(GpS3Error):
    pass


class LocalIOError(GpS3Error):
    pass


class BrokenOutput(LocalIOError):
    """stdout was closed by its reader; the command ends quietly (exit 141-like)."""

    exit_code = 1


class StorageError(GpS3Error):
    pass


class ObjectNotFound(StorageError):
    pass


class UploadNotFound(StorageError):
    pass


class BucketNotFound(StorageError):
    pass


class AccessDenied(StorageError):
    pass


class ModeRefused(StorageError):
    """The store refused how the request was signed or checksummed; ``fix`` is the setting that avoids it."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class TransientStorageError(StorageError):
    pass


class IntegrityError(GpS3Error):
    pass


class EncryptionKeyError(GpS3Error):
    """The key an encrypted object needs is not configured, or a key file cannot be used; never holds a key."""


class PartLimitExceeded(GpS3Error):
    pass


def first_plugin_error(exc: BaseException) -> GpS3Error | None:
    """Find the first :class:`GpS3Error` in ``exc``, looking inside exception groups.

    Task groups wrap failures in ``ExceptionGroup``; the user wants the root cause.
    """
    if isinstance(exc, GpS3Error):
        return exc
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, (list, tuple)):
        for sub in inner:
            if isinstance(sub, BaseException):
                found = first_plugin_error(sub)
                if found is not None:
                    return found
    return None
