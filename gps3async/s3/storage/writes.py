"""S3Store's write path: digests of bodies, verified sends (a body the store refused as not matching
its digest is sent again), PutObject, the probe's deliberately wrong PutObject, and multipart uploads."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio

from ...core.errors import IntegrityError
from ...core.integrity.blocks import BLOCK_SIZE, SpanDigest, digest_span
from ...core.storemodes.settings import BodyDigest, StoreModes, content_md5, digest_body, refusal_fix
from ...core.storemodes.verified import MISMATCH_CODES, ProbeAnswer
from ...runtime.offload import digest_off_loop
from ..errors import error_code, translate
from .objectstore import CompletedPart
from .retention import S3Retention

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

    from ...runtime.journal import UploadJournal

log = logging.getLogger("gps3async")


class S3Writes(S3Retention):
    """The writes of :class:`~gps3async.s3.storage.S3Store`."""

    #: Where the multipart uploads this store opens are recorded until they end (:mod:`gps3async.runtime.journal`),
    #: so that the next agent aborts those a killed process left open; ``None``: not recorded.
    journal: UploadJournal | None = None

    async def digest(self, body: bytes | bytearray) -> BodyDigest:
        """Every digest this store's modes need of ``body`` (its CRC-32C at least), off the loop when large."""
        return await digest_off_loop(len(body), digest_body, body, self.modes)

    async def digest_span(
        self, body: bytes | bytearray, start: int, block_size: int = BLOCK_SIZE
    ) -> tuple[BodyDigest, SpanDigest]:
        """:meth:`digest`, and the CRC-32Cs of ``body``'s blocks (it sits at object offset ``start``), in one hop.

        The body's CRC-32C is folded from its blocks', so the bytes are read once for the CRCs.
        """
        return await digest_off_loop(len(body), _digest_with_blocks, body, start, block_size, self.modes)

    def _body_args(self, digest: BodyDigest) -> dict[str, str]:
        """The checksum parameter of a body, and its SHA-256 for the signer (:mod:`gps3async.s3.storemodes.signing`)."""
        args = self.modes.put_args(digest)
        if self.modes.signed:
            from ..storemodes.signing import PAYLOAD_SHA256

            args[PAYLOAD_SHA256] = digest.sha256
        return args

    async def _send_verified(self, what: str, send: Callable[[], Awaitable[Any]], digest: BodyDigest) -> Any:
        """Run ``send`` (one PutObject or UploadPart); send the body again when the store found it different
        from its digest, up to :attr:`digest_attempts` times.

        The body in memory is the one its digest was computed from, so a
        mismatch means bytes changed on the way (a flipped bit), which is
        transient; botocore's retries do not cover it (a 400).  Nothing was
        stored by the refused request.
        """
        for attempt in range(1, self.digest_attempts + 1):
            answer, refused = await self._send_once(what, send)
            if refused is None:
                return answer
            code, status = error_code(refused)
            seen = _what_the_store_saw(refused.response.get("Error", {}))
            sent = _digests_sent(self.modes, digest)
            if attempt == self.digest_attempts:
                log.error("%s: the store refused the body %d times (%s %s): sent %s; %s; nothing stored",
                          what, attempt, status, code, sent, seen)  # fmt: skip
                raise IntegrityError(
                    f"{what}: the bytes the store received did not match their digest {attempt} times"
                    f" ({code}: corrupted in transit); nothing stored"
                )
            log.warning("%s: attempt %d refused: the bytes the store received did not match their digest (%s %s):"
                        " sent %s; %s; sending the body again", what, attempt, status, code, sent, seen)  # fmt: skip
        raise AssertionError("unreachable")

    async def _send_once(self, what: str, send: Callable[[], Awaitable[Any]]) -> tuple[Any, Any]:
        """``(answer, None)``, or ``(None, ClientError)`` for a digest mismatch; other failures raise."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await send(), None
        except ClientError as err:
            code, _ = error_code(err)
            message = str(err.response.get("Error", {}).get("Message", "") or "")
            if code in MISMATCH_CODES and refusal_fix(code, message, self.modes) is None:
                return None, err
            raise translate(err, what, self.modes) from None
        except BotoCoreError as err:
            raise translate(err, what, self.modes) from None

    async def put_object(
        self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str], digest: BodyDigest | None = None
    ) -> None:
        """Store ``body`` in one request; ``digest`` is :meth:`digest` of it when the caller already has it."""
        if digest is None:
            digest = await self.digest(body)
        args = self._body_args(digest)
        lock, until = await self.lock_args(key)
        if lock and "ContentMD5" not in args and "ChecksumCRC32C" not in args:
            # S3 refuses a PutObject with lock headers that carries neither Content-MD5 nor a checksum.
            args["ContentMD5"] = await digest_off_loop(len(body), content_md5, body)

        async def send() -> Any:
            return await self._client.put_object(
                Bucket=self.bucket, Key=key, Body=body, Metadata=dict(metadata),
                **args, **self.writes.request_args(key), **lock,
            )  # fmt: skip

        answer = await self._send_verified(self._where("PutObject", key), send, digest)
        if until is not None:
            await self.confirm_retention(key, until, str(answer.get("VersionId") or ""))

    async def probe_put(self, key: str, body: bytes, digest: BodyDigest) -> ProbeAnswer:
        """PutObject ``body`` with ``digest`` as given (deliberately wrong: :mod:`gps3async.s3.storemodes.probe`), once.

        The answer is returned, not raised: a refusal is what the probe wants to see.
        """
        return (await _probe_call(self._client.put_object(Bucket=self.bucket, Key=key, Body=body,
                                                           **self._body_args(digest))))[0]  # fmt: skip

    async def probe_part(self, key: str, body: bytes, digest: BodyDigest) -> ProbeAnswer:
        """:meth:`probe_put` as an UploadPart into a multipart upload of its own, which is then aborted.

        Parts of an aborted upload are no object versions: in a versioned bucket (Object Lock, a default
        retention) a PutObject the store accepts stays as a version, and its delete as a delete marker.
        """
        refused, created = await _probe_call(
            self._client.create_multipart_upload(Bucket=self.bucket, Key=key, **self.modes.create_args())
        )
        if created is None:
            return refused
        upload_id = str(created["UploadId"])
        try:
            return (await _probe_call(self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=body, **self._body_args(digest)
            )))[0]  # fmt: skip
        finally:
            with anyio.move_on_after(30, shield=True):
                try:
                    await self.abort_multipart_upload(key, upload_id)
                except Exception as err:  # noqa: BLE001 - the probe's answer stands; the upload is named
                    log.warning("store mode probe: could not abort the upload of %s (%s)", self.url(key), err)

    async def create_multipart_upload(self, key: str) -> str:
        async with self._call("CreateMultipartUpload", key):
            answer = await self._client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                **self.modes.create_args(),
                **self.writes.request_args(key),
                **(await self.lock_args(key))[0],
            )
        upload_id = str(answer["UploadId"])
        if self.journal is not None:  # before the first part goes out: from here a crash leaves a record
            await self.journal.opened(self.endpoint, self.bucket, key, upload_id)
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray, *, digest: BodyDigest | None = None
    ) -> CompletedPart:
        """Upload one part; ``digest`` is :meth:`digest` of it when the caller already has it."""
        if digest is None:
            digest = await self.digest(body)
        args = self._body_args(digest)

        async def send() -> Any:
            return await self._client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body, **args
            )

        answer = await self._send_verified(self._where(f"UploadPart {number} of", key), send, digest)
        return CompletedPart(number, str(answer["ETag"]), digest.crc32c, len(body))

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None:
        listing = [self.modes.complete_part(p.number, p.etag, p.crc32c) for p in parts]
        async with self._call("CompleteMultipartUpload", key):
            answer = await self._client.complete_multipart_upload(
                Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": listing}
            )
        until = (await self.lock_args(key))[1]
        if until is not None:
            await self.confirm_retention(key, until, str(answer.get("VersionId") or ""))
        if self.journal is not None:
            self.journal.closed(self.endpoint, self.bucket, upload_id)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        async with self._call("AbortMultipartUpload", key):
            await self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        if self.journal is not None:  # only once aborted: a record kept lets the next agent try again
            self.journal.closed(self.endpoint, self.bucket, upload_id)


async def _probe_call(call: Awaitable[Any]) -> tuple[ProbeAnswer, Any]:
    """A probe's request: how the store answered, and its answer (``None`` when refused or unanswered).

    A refusal is returned, not raised: it is what a probe wants to see.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = await call
    except ClientError as err:
        code, status = error_code(err)
        return ProbeAnswer(status, code, str(err.response.get("Error", {}).get("Message", "") or "")), None
    except BotoCoreError as err:
        return ProbeAnswer(0, "", type(err).__name__), None
    return ProbeAnswer(int(answer["ResponseMetadata"]["HTTPStatusCode"])), answer


def _digest_with_blocks(
    body: bytes | bytearray, start: int, block_size: int, modes: StoreModes
) -> tuple[BodyDigest, SpanDigest]:
    span = digest_span(body, start, block_size)
    return digest_body(body, modes, crc=span.crc32c), span


def _digests_sent(modes: StoreModes, digest: BodyDigest) -> str:
    """The digests a write carried (what the store was told to expect), for the log."""
    from ...core.integrity.checksums import encode_crc32c

    sent = []
    if modes.upload_checksum == "crc32c":
        sent.append(f"x-amz-checksum-crc32c {encode_crc32c(digest.crc32c)}")
    if modes.upload_checksum == "md5":
        sent.append(f"Content-MD5 {digest.md5}")
    if modes.signed:
        sent.append(f"payload SHA-256 {digest.sha256}")
    return ", ".join(sent) or "no digest"


def _what_the_store_saw(error: Mapping[str, Any]) -> str:
    """What the store says it computed: the extra fields of its error answer (S3 names them differently per
    digest, e.g. ``CalculatedDigest``, ``S3ComputedContentSHA256``); many stores name none."""
    skip = {"Code", "Message", "RequestId", "HostId", "Resource", "BucketName", "Key"}
    extra = [f"{name} {value}" for name, value in error.items() if name not in skip and value]
    return "the store computed: " + ", ".join(extra) if extra else "the store did not say what it computed"
