"""The sealing source and opening sinks at any buffer and write size (in memory, with small segments)."""

from __future__ import annotations

import os
import random

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gps3async.core.encryption.format import Header, Layout, SegmentCipher
from gps3async.core.encryption.keys import SecretKey, keyring_of
from gps3async.core.encryption.ranges import plan_segment_fetches
from gps3async.core.errors import EncryptionKeyError, IntegrityError
from gps3async.core.plan import ByteRange
from gps3async.transfer.encryption.streams import OpeningSink, SealingSource, SubsetOpeningSink

S = 4096
KEY = SecretKey(os.urandom(32))


class Source:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    async def readinto(self, buf: bytearray) -> int:
        piece = self.data[self.position : self.position + len(buf)]
        memoryview(buf)[: len(piece)] = piece
        self.position += len(piece)
        return len(piece)


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytearray | memoryview) -> None:
        self.data += data


def seal(plain: bytes, part: int) -> bytes:
    cipher = SegmentCipher(KEY, Header(S, KEY.fingerprint, os.urandom(32)), "name", "where")

    async def run() -> bytes:
        source, out = SealingSource(Source(plain), cipher), bytearray()
        buf = bytearray(part)
        while True:
            got = await source.readinto(buf)
            out += buf[:got]
            if got < part:
                return bytes(out)

    return anyio.run(run)


def open_whole(stored: bytes, writes: list[int], name: str = "name") -> bytes:
    async def run() -> bytes:
        sink = Sink()
        opening = OpeningSink(sink, keyring_of(KEY, []), name, "where")
        position, sizes = 0, iter(writes)
        while position < len(stored):
            step = next(sizes, len(stored))
            await opening.write(memoryview(stored)[position : position + step])
            position += step
        await opening.finish()
        return bytes(sink.data)

    return anyio.run(run)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 11 * S), st.integers(1, 3 * S), st.lists(st.integers(1, 3 * S), max_size=40))
def test_round_trip_at_any_part_and_write_size(size: int, part: int, writes: list[int]) -> None:
    plain = random.randbytes(size)
    stored = seal(plain, part)
    assert len(stored) == Layout(S).stored_size(size)
    assert open_whole(stored, writes) == plain


def test_a_bad_segment_is_never_written_and_truncation_is_caught() -> None:
    plain = random.randbytes(9 * S + 5)
    stored = bytearray(seal(plain, 5 * S))
    with pytest.raises(IntegrityError, match="truncated"):
        open_whole(bytes(stored[: Layout(S).stored_offset(9)]), [S])
    with pytest.raises(IntegrityError, match="failed authentication"):
        open_whole(bytes(stored), [S], name="another name")
    stored[Layout(S).stored_offset(6) + 9] ^= 4
    sink = Sink()

    async def run() -> None:
        opening = OpeningSink(sink, keyring_of(KEY, []), "name", "where")
        await opening.write(memoryview(stored))
        await opening.finish()

    with pytest.raises(IntegrityError, match="segment 6 failed"):
        anyio.run(run)
    assert len(sink.data) <= 6 * S and bytes(sink.data) == plain[: len(sink.data)]


def test_no_key_and_wrong_key_write_nothing() -> None:
    stored = seal(b"secret" * 1000, 5 * S)
    for keyring in (None, keyring_of(SecretKey(os.urandom(32)), [])):
        sink = Sink()
        opening = OpeningSink(sink, keyring, "name", "where")
        with pytest.raises(EncryptionKeyError, match="no client_side_encryption key" if keyring is None else "another"):
            anyio.run(opening.write, memoryview(stored))
        assert sink.data == b""


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 11 * S), st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=8), st.integers(1, 4))
def test_subset_sink_writes_the_wanted_pieces(size: int, fractions: list[tuple[float, float]], per_get: int) -> None:
    plain = random.randbytes(size)
    stored = seal(plain, 5 * S)
    wanted = [ByteRange(*sorted((int(a * size), int(b * size)))) for a, b in fractions]
    layout = Layout(S)
    fetches = list(plan_segment_fetches(wanted, layout, max_segments=per_get, max_gap_segments=1))
    cipher = SegmentCipher(KEY, Header.parse(stored[:64], "x"), "name", "where")

    async def run() -> bytes:
        sink = Sink()
        opening = SubsetOpeningSink(sink, cipher, size, len(stored), fetches)
        for fetch in fetches:
            span = fetch.stored_range(layout, len(stored))
            await opening.write(memoryview(stored)[span.start : span.end])
        return bytes(sink.data)

    assert anyio.run(run) == b"".join(plain[r.start : r.end] for r in wanted)


def test_authenticate_object_checks_every_segment_without_writing() -> None:
    from gps3async.transfer.encryption.restore import authenticate_object
    from gps3async.transfer.encryption.streams import sealing_source
    from gps3async.transfer.upload import upload_stream
    from tests.pipeline.fakes import FakeStore

    store, keyring = FakeStore(), keyring_of(KEY, [])
    plain = random.randbytes(3 * (1 << 20) + 77)
    mib = 1 << 20

    async def run(flip_at: int | None, ring: object) -> tuple[bool, int]:
        store.flip_at = flip_at
        return await authenticate_object(
            store,
            "k",
            keyring=ring,
            name="k",
            chunksize=mib,
            concurrency=2,  # type: ignore[arg-type]
        )

    async def upload() -> None:
        source = sealing_source(Source(plain), keyring, "k", "fake://k")
        await upload_stream(store, "k", source, chunksize=5 * mib, concurrency=2)

    anyio.run(upload)
    assert anyio.run(run, None, keyring) == (True, len(plain))
    with pytest.raises(IntegrityError):
        anyio.run(run, 64 + (1 << 20) + 100, keyring)
    with pytest.raises(EncryptionKeyError):
        anyio.run(run, None, None)
    store.objects["plain"] = b"not encrypted"
    assert anyio.run(lambda: authenticate_object(store, "plain", keyring=None, name="plain", chunksize=mib,
                                                 concurrency=2)) == (False, 13)  # fmt: skip
