"""Where client-side encryption's CPU goes: the cipher alone against the encryption layer, no network.

``python -m bench.encryption.floor --size-mib 256 --runs 5`` measures, in this
process, CPU seconds (``getrusage(RUSAGE_SELF)``: the event loop and the
worker threads) per GiB of plaintext, the least of ``--runs``:

* ``cipher``: ``AESGCM.encrypt_into`` / ``decrypt_into`` on one 1 MiB
  segment over and over (cache-hot), and ``streaming``: over consecutive
  segments of 64 MiB buffers, each byte read and written once as in a
  transfer (the floor through the ``cryptography`` binding);
* ``layer``: :class:`~gps3async.transfer.encryption.streams.SealingSource` filling 16 MiB part
  buffers from a plaintext source, and
  :class:`~gps3async.transfer.encryption.streams.OpeningSink` fed the stored object in 16 MiB
  GET buffers, each minus the same pipeline without encryption (the source
  read straight into the part buffer; the GET buffers handed to the sink).

The difference ``layer - cipher`` is what the layer costs beyond the cipher:
its copies (the staging read, the segment straddling two buffers), thread
hops, per-segment Python.  The network, the store and the CRC-32C are
outside both, so the figures are steady on a loaded machine where the
end-to-end ones (``bench.encryption.cost``, ``make bench``) are not.
"""

from __future__ import annotations

import argparse
import os
import resource
from typing import TYPE_CHECKING

import anyio

from gps3async.core.encryption.format import SALT_SIZE, SEGMENT_SIZE, TAG_SIZE, Header, SegmentCipher
from gps3async.core.encryption.keys import SecretKey, keyring_of
from gps3async.runtime.buffers import new_buffer
from gps3async.transfer.encryption.streams import OpeningSink, SealingSource

if TYPE_CHECKING:
    from collections.abc import Callable

GIB = 1 << 30
MIB = 1 << 20
#: Part and GET buffer size (the default multipart chunk size).
CHUNK = 16 * MIB


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _MemorySource:
    """A plaintext source of ``size`` bytes, copied out of one random buffer (as a pipe read copies)."""

    def __init__(self, pattern: memoryview, size: int) -> None:
        self._pattern, self._left, self._at = pattern, size, 0

    async def readinto(self, buf: bytearray) -> int:
        view, filled = memoryview(buf), 0
        while filled < len(view) and self._left:
            take = min(len(view) - filled, self._left, len(self._pattern) - self._at)
            view[filled : filled + take] = self._pattern[self._at : self._at + take]
            self._at = (self._at + take) % len(self._pattern)
            self._left -= take
            filled += take
        return filled


class _Discard:
    async def write(self, data: bytearray | memoryview) -> None:
        return None


def _least(runs: int, once: Callable[[], float]) -> float:
    return min(once() for _ in range(runs))


def cipher_only(cipher: SegmentCipher, pattern: memoryview, size: int, *, seal: bool) -> float:
    stored = memoryview(new_buffer(SEGMENT_SIZE + TAG_SIZE))
    out = memoryview(new_buffer(SEGMENT_SIZE))
    plain = pattern[:SEGMENT_SIZE]
    cipher.seal_into(0, False, plain, stored)
    started = _cpu()
    for index in range(size // SEGMENT_SIZE):
        if seal:
            cipher.seal_into(0, False, plain, stored)
        else:
            cipher.open_into(0, False, stored, out)
        del index
    return _cpu() - started


#: The streaming rows' output, its pages touched once before any is timed.
_streaming_out = memoryview(bytearray((64 * MIB // SEGMENT_SIZE) * (SEGMENT_SIZE + TAG_SIZE)))


def cipher_streaming(cipher: SegmentCipher, pattern: memoryview, sealed: memoryview, size: int, *, seal: bool) -> float:
    """The cipher over consecutive segments of 64 MiB buffers (each byte read and written once, not cache-hot)."""
    stride = SEGMENT_SIZE + TAG_SIZE
    count = len(pattern) // SEGMENT_SIZE
    out = _streaming_out
    started = _cpu()
    for index in range(size // SEGMENT_SIZE):
        at = index % count
        if seal:
            cipher.seal_into(at, False, pattern[at * SEGMENT_SIZE : (at + 1) * SEGMENT_SIZE],
                             out[at * stride : (at + 1) * stride])  # fmt: skip
        else:
            cipher.open_into(at, False, sealed[at * stride : (at + 1) * stride],
                             out[at * SEGMENT_SIZE : (at + 1) * SEGMENT_SIZE])  # fmt: skip
    return _cpu() - started


async def upload(cipher: SegmentCipher | None, pattern: memoryview, size: int) -> float:
    part = new_buffer(CHUNK)
    source = _MemorySource(pattern, size)
    reader = source if cipher is None else SealingSource(source, cipher)
    started = _cpu()
    while await reader.readinto(part) == len(part):
        pass
    return _cpu() - started


async def restore(cipher: SegmentCipher | None, stored: memoryview, size: int, keyring: object) -> float:
    """Feed ``stored`` (repeated to ``size`` plaintext bytes when plain) in CHUNK-sized GET buffers."""
    get = memoryview(new_buffer(CHUNK))
    sink = OpeningSink(_Discard(), keyring, "bench", "bench")  # type: ignore[arg-type]
    target = _Discard() if cipher is None else sink
    started = _cpu()
    for start in range(0, len(stored), CHUNK):
        piece = stored[start : start + CHUNK]
        get[: len(piece)] = piece  # the GET's own copy from the socket, the same either way
        await target.write(get[: len(piece)])
    if cipher is not None:
        await sink.finish()
    return _cpu() - started


async def sealed_object(cipher: SegmentCipher, pattern: memoryview, size: int) -> memoryview:
    out = bytearray()
    part = new_buffer(CHUNK)
    reader = SealingSource(_MemorySource(pattern, size), cipher)
    while True:
        got = await reader.readinto(part)
        out += memoryview(part)[:got]
        if got < len(part):
            return memoryview(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    size = options.size_mib * MIB
    scale = GIB / size
    key = SecretKey(os.urandom(32))
    keyring = keyring_of(key, [])
    cipher = SegmentCipher(key, Header(SEGMENT_SIZE, key.fingerprint, os.urandom(SALT_SIZE)), "bench", "bench")
    pattern = memoryview(os.urandom(64 * MIB))
    stored = anyio.run(sealed_object, cipher, pattern, size)
    stride = SEGMENT_SIZE + TAG_SIZE
    segments = memoryview(new_buffer(len(pattern) // SEGMENT_SIZE * stride))
    for at in range(len(pattern) // SEGMENT_SIZE):
        cipher.seal_into(
            at, False, pattern[at * SEGMENT_SIZE : (at + 1) * SEGMENT_SIZE], segments[at * stride : (at + 1) * stride]
        )
    plain_copy = memoryview(bytearray(size))
    for start in range(0, size, len(pattern)):
        plain_copy[start : start + len(pattern)] = pattern[: min(len(pattern), size - start)]
    rows = {
        "cipher seal": _least(options.runs, lambda: cipher_only(cipher, pattern, size, seal=True)),
        "cipher open": _least(options.runs, lambda: cipher_only(cipher, pattern, size, seal=False)),
        "cipher seal, streaming": _least(
            options.runs, lambda: cipher_streaming(cipher, pattern, segments, size, seal=True)
        ),
        "cipher open, streaming": _least(
            options.runs, lambda: cipher_streaming(cipher, pattern, segments, size, seal=False)
        ),
        "upload plain": _least(options.runs, lambda: anyio.run(upload, None, pattern, size)),
        "upload sealed": _least(options.runs, lambda: anyio.run(upload, cipher, pattern, size)),
        "restore plain": _least(options.runs, lambda: anyio.run(restore, None, plain_copy, size, keyring)),
        "restore opened": _least(options.runs, lambda: anyio.run(restore, cipher, stored, size, keyring)),
    }
    print(f"{options.size_mib} MiB, least CPU s per GiB of {options.runs} runs (this process, all threads)")
    for name, cpu in rows.items():
        print(f"  {name:22} {cpu * scale:.3f}")
    for direction, plain, sealed, floor in (
        ("upload", "upload plain", "upload sealed", "cipher seal, streaming"),
        ("restore", "restore plain", "restore opened", "cipher open, streaming"),
    ):
        extra = (rows[sealed] - rows[plain]) * scale
        print(f"  {direction}: encryption adds {extra:.3f}; the cipher alone {rows[floor] * scale:.3f}; "
              f"the layer beyond the streaming cipher {extra - rows[floor] * scale:+.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
