"""In-memory stand-ins for pure pipeline tests (no S3 here: S3 tests use the real server).

``FakeStore`` keeps objects in a dict, sleeps a scripted latency per call,
can fail chosen calls, and records the peak number of calls in flight.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anyio
import crc32c

from gps3async.core.errors import BrokenOutput, StorageError
from gps3async.core.integrity.blocks import BLOCK_SIZE, SpanDigest, digest_span
from gps3async.core.plan import ByteRange
from gps3async.core.storemodes.settings import BodyDigest, StoreModes, digest_body
from gps3async.s3.storage import CompletedPart, PartHead, RangeRead


@dataclass
class FakeStore:
    latency: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    fail_part: int | None = None
    objects: dict[str, bytes] = field(default_factory=dict)
    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    flip_at: int | None = None
    #: The ETag every GET answers (a Go plugin object's MD5), and the part size ``HEAD ?partNumber=`` tells.
    etag: str = '"fake"'
    head_part_size: int = 0
    uploads: dict[str, dict[int, bytes]] = field(default_factory=dict)
    aborted: list[str] = field(default_factory=list)
    part_sizes: list[int] = field(default_factory=list)
    in_flight: int = 0
    peak_in_flight: int = 0
    calls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    async def _enter(self, name: str) -> None:
        self.calls.append(name)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            await anyio.sleep(self.latency + self._random.random() * self.jitter)
        finally:
            self.in_flight -= 1

    async def digest(self, body: bytes | bytearray) -> BodyDigest:
        return digest_body(body, StoreModes())

    async def digest_span(
        self, body: bytes | bytearray, start: int, block_size: int = BLOCK_SIZE
    ) -> tuple[BodyDigest, SpanDigest]:
        span = digest_span(body, start, block_size)
        return digest_body(body, StoreModes(), crc=span.crc32c), span

    async def put_object(
        self, key: str, body: bytes | bytearray, *, metadata: Mapping[str, str], digest: BodyDigest | None = None
    ) -> None:
        await self._enter("put_object")
        self.objects[key] = bytes(body)
        self.metadata[key] = dict(metadata)

    async def create_multipart_upload(self, key: str) -> str:
        upload_id = f"upload-{len(self.uploads)}"
        self.uploads[upload_id] = {}
        return upload_id

    async def upload_part(
        self, key: str, upload_id: str, number: int, body: bytes | bytearray, *, digest: BodyDigest | None = None
    ) -> CompletedPart:
        await self._enter("upload_part")
        if number == self.fail_part:
            raise StorageError(f"UploadPart {number}: scripted failure")
        self.uploads[upload_id][number] = bytes(body)
        self.part_sizes.append(len(body))
        return CompletedPart(number, f'"etag-{number}"', crc32c.crc32c(body), len(body))

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[CompletedPart]) -> None:
        numbers = [part.number for part in parts]
        assert numbers == list(range(1, len(numbers) + 1)), numbers
        stored = self.uploads.pop(upload_id)
        self.objects[key] = b"".join(stored[n] for n in numbers)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        self.uploads.pop(upload_id, None)
        self.aborted.append(upload_id)

    async def get_range_into(
        self, key: str, rng: ByteRange, view: memoryview, *, if_match: str | None = None
    ) -> RangeRead:
        await self._enter("get_object")
        data = self.objects[key]
        piece = data[rng.start : min(rng.end, len(data))]
        view[: len(piece)] = piece
        if self.flip_at is not None and rng.start <= self.flip_at < rng.start + len(piece):
            view[self.flip_at - rng.start] ^= 0x01
        return RangeRead(len(piece), len(data), self.etag, self.metadata.get(key, {}))

    async def get_small_object(self, key: str) -> bytes | None:
        return self.objects.get(key)

    async def head_part(self, key: str, number: int, *, if_match: str | None = None) -> PartHead:
        """As S3 answers ``HEAD ?partNumber=`` for an object uploaded in ``part_size`` parts."""
        await self._enter("head_part")
        size, part = len(self.objects[key]), self.head_part_size or len(self.objects[key])
        start = (number - 1) * part
        return PartHead(max(0, min(part, size - start)), -(-size // part) if self.head_part_size else 0)

    def url(self, key: str) -> str:
        return f"fake://{key}"


class TrickleSource:
    """Delivers ``data`` in reads of at most ``step`` bytes (1 = the worst pipe)."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.position = data, step, 0

    async def readinto(self, buf: bytearray) -> int:
        filled = 0
        while filled < len(buf) and self.position < len(self.data):
            take = min(self.step, len(buf) - filled, len(self.data) - self.position)
            buf[filled : filled + take] = self.data[self.position : self.position + take]
            filled += take
            self.position += take
        await anyio.lowlevel.checkpoint()
        return filled


class FailingSource:
    """Yields ``good`` bytes, then raises as a broken stdin would."""

    def __init__(self, good: bytes) -> None:
        self.inner = TrickleSource(good, 1 << 20)

    async def readinto(self, buf: bytearray) -> int:
        got = await self.inner.readinto(buf)
        if got < len(buf):
            raise OSError("stdin went away")
        return got


@dataclass
class RecordingSink:
    chunks: list[bytes] = field(default_factory=list)
    close_after: int | None = None

    async def write(self, data: bytearray | memoryview) -> None:
        if self.close_after is not None and sum(map(len, self.chunks)) >= self.close_after:
            raise BrokenOutput("stdout was closed by its reader")
        self.chunks.append(bytes(data))
        await anyio.lowlevel.checkpoint()

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)
