from __future__ import annotations

import crc32c
from hypothesis import given
from hypothesis import strategies as st

from gps3async.core.integrity.checksums import Crc32cChain, crc32c_combine, decode_crc32c, encode_crc32c


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_combine_equals_the_crc_of_the_concatenation(a: bytes, b: bytes) -> None:
    assert crc32c_combine(crc32c.crc32c(a), crc32c.crc32c(b), len(b)) == crc32c.crc32c(a + b)


@given(st.lists(st.binary(max_size=200), max_size=12))
def test_chain_of_pieces(pieces: list[bytes]) -> None:
    chain = Crc32cChain()
    for piece in pieces:
        chain.append(crc32c.crc32c(piece), len(piece))
    assert chain.value == crc32c.crc32c(b"".join(pieces))
    assert chain.length == sum(map(len, pieces))


def test_combine_over_a_large_length() -> None:
    big = bytes(range(256)) * 40000  # ~10 MB
    assert crc32c_combine(crc32c.crc32c(b"head"), crc32c.crc32c(big), len(big)) == crc32c.crc32c(b"head" + big)


def test_s3_encoding_round_trips() -> None:
    assert encode_crc32c(crc32c.crc32c(b"abc")) == "Nks/tw=="
    assert decode_crc32c("Nks/tw==") == crc32c.crc32c(b"abc")
    assert decode_crc32c("not base64!") is None
    assert decode_crc32c("AAAA") is None
