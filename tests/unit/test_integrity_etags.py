from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from gps3async.core.integrity.etags import EtagDigest, PartMd5Stream, etag_is_md5, parse_etag, uniform_part_sizes


def _s3_multipart_etag(data: bytes, part: int) -> str:
    digests = b"".join(hashlib.md5(data[i : i + part]).digest() for i in range(0, len(data), part))
    return f'"{hashlib.md5(digests).hexdigest()}-{len(digests) // 16}"'


def test_shapes() -> None:
    md5 = "9e107d9d372bb6826bd81d3542a419d6"
    assert parse_etag(f'"{md5}"') == EtagDigest(md5)
    assert parse_etag(md5.upper()) == EtagDigest(md5)
    assert parse_etag(f'"{md5}-12"') == EtagDigest(md5, 12)
    for other in ("", '""', f'"{md5}-0"', f'"{md5[:-1]}"', '"abc"', f'W/"{md5}"', f'"{md5}-100000"'):
        assert parse_etag(other) is None, other
    assert str(EtagDigest(md5, 3)) == f"{md5}-3"


def test_encrypted_objects_have_no_md5_etag() -> None:
    assert etag_is_md5("", "") and etag_is_md5("AES256", "")
    assert not etag_is_md5("aws:kms", "") and not etag_is_md5("aws:kms:dsse", "")
    assert not etag_is_md5("", "AES256")


@given(st.integers(0, 1000), st.integers(1, 100), st.integers(1, 20))
def test_uniform_sizes_add_up_or_are_refused(size: int, part: int, parts: int) -> None:
    sizes = uniform_part_sizes(size, part, parts)
    if sizes is None:
        assert not part * (parts - 1) < size <= part * parts
    else:
        assert sum(sizes) == size and len(sizes) == parts and all(0 < s <= part for s in sizes)


@given(st.binary(min_size=1, max_size=300), st.integers(1, 64), st.lists(st.integers(1, 50), max_size=12))
def test_stream_matches_s3s_multipart_etag_whatever_the_write_sizes(data: bytes, part: int, writes: list[int]) -> None:
    parts = -(-len(data) // part)
    sizes = uniform_part_sizes(len(data), part, parts)
    assert sizes is not None
    stream = PartMd5Stream(sizes, multipart=True)
    start = 0
    for size in writes:
        stream.update(data[start : start + size])
        start += size
    stream.update(data[start:])
    assert parse_etag(_s3_multipart_etag(data, part)) == stream.result()
    single = PartMd5Stream((len(data),), multipart=False)
    single.update(data)
    assert single.result() == EtagDigest(hashlib.md5(data).hexdigest())


def test_changed_bytes_change_the_etag() -> None:
    data = bytearray(b"x" * 100)
    expected = parse_etag(_s3_multipart_etag(bytes(data), 30))
    data[55] ^= 1
    stream = PartMd5Stream((30, 30, 30, 10), multipart=True)
    stream.update(data)
    assert stream.result() != expected
