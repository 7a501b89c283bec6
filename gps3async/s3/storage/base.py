"""What every part of :class:`~gps3async.s3.storage.S3Store` shares: the client, the bucket, the write options
and store modes, and the translation of botocore failures into the plugin's exceptions."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from ...core.journalrecords import public_endpoint
from ...core.resumebudget import ResumePolicy
from ...core.storemodes.settings import StoreModes
from ..errors import translate
from .objectstore import WriteOptions

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class S3Base:
    """One aiobotocore S3 client for one bucket; the reads, writes and listing build on it."""

    def __init__(
        self, client: Any, bucket: str, writes: WriteOptions | None = None, modes: StoreModes | None = None,
        *, digest_attempts: int = 5, resume: ResumePolicy | None = None,
    ) -> None:  # fmt: skip
        self._client = client
        self.bucket = bucket
        #: The store's endpoint as the upload journal names it (no user information).
        self.endpoint = public_endpoint(str(client.meta.endpoint_url))
        self.writes = writes or WriteOptions()
        #: How writes are signed and checksummed (``payload_signing``, ``upload_checksum``).
        self.modes = modes or StoreModes()
        #: Sends of one body the store refused as not matching its digest before the write fails (``max_attempts``).
        self.digest_attempts = max(digest_attempts, 1)
        #: How long a read whose body keeps breaking off is resumed (``max_attempts``, ``read_timeout``).
        self.resume = resume or ResumePolicy()
        #: Whether GetObjectLockConfiguration showed Object Lock on the bucket (asked before the first locked write).
        self._bucket_locked = False

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _where(self, op: str, key: str) -> str:
        return f"{op} {self.url(key)}"

    @contextlib.asynccontextmanager
    async def _call(self, op: str, key: str) -> AsyncIterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except (BotoCoreError, ClientError) as err:
            raise translate(err, self._where(op, key), self.modes) from None
