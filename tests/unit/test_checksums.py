from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from gps3async.checksums import Crc32Chain, crc32_combine, decode_crc32, encode_crc32


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_combine_equals_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@given(st.lists(st.binary(max_size=200), max_size=12))
def test_chain_of_pieces(pieces: list[bytes]) -> None:
    chain = Crc32Chain()
    for piece in pieces:
        chain.append(zlib.crc32(piece), len(piece))
    assert chain.value == zlib.crc32(b"".join(pieces))
    assert chain.length == sum(map(len, pieces))


def test_combine_over_a_large_length() -> None:
    big = bytes(range(256)) * 40000  # ~10 MB
    assert crc32_combine(zlib.crc32(b"head"), zlib.crc32(big), len(big)) == zlib.crc32(b"head" + big)


def test_s3_encoding_round_trips() -> None:
    assert encode_crc32(zlib.crc32(b"abc")) == "NSRBwg=="
    assert decode_crc32("NSRBwg==") == zlib.crc32(b"abc")
    assert decode_crc32("not base64!") is None
    assert decode_crc32("AAAA") is None
