"""The encrypted object format, the segment planning and the key options (pure)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gps3async.core.configfile import parse_config
from gps3async.core.encryption.format import HEADER_SIZE, TAG_SIZE, Header, Layout, SegmentCipher, object_name
from gps3async.core.encryption.keys import SecretKey, parse_encryption_options
from gps3async.core.encryption.ranges import plan_segment_fetches
from gps3async.core.errors import ConfigError, IntegrityError
from gps3async.core.plan import ByteRange, coalesce

S = 4096
LAYOUT = Layout(S)


@pytest.mark.parametrize("plain", [0, 1, S - 1, S, S + 1, 3 * S, 3 * S + 7])
def test_plain_size_is_recovered_from_the_stored_size(plain: int) -> None:
    stored = LAYOUT.stored_size(plain)
    assert stored == HEADER_SIZE + plain + TAG_SIZE * (plain // S + 1)
    assert LAYOUT.plain_size(stored, "x") == plain


@pytest.mark.parametrize("stored", [0, HEADER_SIZE, HEADER_SIZE + TAG_SIZE - 1, HEADER_SIZE + S + TAG_SIZE,
                                    HEADER_SIZE + S + TAG_SIZE + 3])  # fmt: skip
def test_sizes_no_plaintext_gives_are_truncation(stored: int) -> None:
    with pytest.raises(IntegrityError, match="truncated"):
        LAYOUT.plain_size(stored, "x")


def test_header_round_trip_and_refusals() -> None:
    header = Header(S, b"f" * 16, b"s" * 32)
    packed = header.pack()
    assert len(packed) == HEADER_SIZE and Header.parse(packed, "x") == header
    with pytest.raises(IntegrityError, match="version 2"):
        Header.parse(packed[:8] + b"\x02" + packed[9:], "x")
    with pytest.raises(IntegrityError, match="cut short"):
        Header.parse(packed[:40], "x")


def test_segments_are_bound_to_index_last_flag_name_and_header() -> None:
    key = SecretKey(os.urandom(32))
    header = Header(S, key.fingerprint, os.urandom(32))
    plain = memoryview(os.urandom(100))
    sealed = bytearray(116)
    SegmentCipher(key, header, "a", "x").seal_into(3, True, plain, memoryview(sealed))
    out = bytearray(100)
    SegmentCipher(key, header, "a", "x").open_into(3, True, memoryview(sealed), memoryview(out))
    assert out == plain
    for cipher, index, last in (
        (SegmentCipher(key, header, "a", "x"), 2, True),
        (SegmentCipher(key, header, "a", "x"), 3, False),
        (SegmentCipher(key, header, "b", "x"), 3, True),
        (SegmentCipher(key, Header(S, key.fingerprint, os.urandom(32)), "a", "x"), 3, True),
        (SegmentCipher(SecretKey(os.urandom(32)), header, "a", "x"), 3, True),
    ):
        with pytest.raises(IntegrityError, match="failed authentication"):
            cipher.open_into(index, last, memoryview(sealed), memoryview(out))


def test_object_names_leave_out_the_folder() -> None:
    assert object_name("prod/c1", "prod/c1/backups/20261126/20261126101500/x") == "backups/20261126/20261126101500/x"
    assert object_name("prod/c1", "data/dir/file") == "data/dir/file"


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 12 * S),
    st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=12),
    st.integers(1, 5),
    st.integers(0, 2),
)
def test_segment_fetches_write_exactly_the_wanted_bytes(
    plain: int, fractions: list[tuple[float, float]], max_segments: int, gap: int
) -> None:
    wanted = [ByteRange(*sorted((int(a * plain), int(b * plain)))) for a, b in fractions]
    fetches = list(plan_segment_fetches(wanted, LAYOUT, max_segments=max_segments, max_gap_segments=gap))
    written = [piece for fetch in fetches for piece in fetch.pieces]
    assert coalesce(written) == coalesce(wanted)
    stored = LAYOUT.stored_size(plain)
    for fetch in fetches:
        assert 0 < fetch.end - fetch.first <= max_segments
        assert all(fetch.first * S <= p.start < p.end <= fetch.end * S for p in fetch.pieces)
        assert all(a.end <= b.start for a, b in zip(fetch.pieces, fetch.pieces[1:]))
        assert fetch.first * S < fetch.pieces[0].end and (fetch.end - 1) * S < fetch.pieces[-1].end
        assert fetch.stored_range(LAYOUT, stored).end <= stored


KEY = "ab" * 32


def _problems(options: dict[str, str], environ: dict[str, str] | None = None) -> list[str]:
    problems: list[str] = []
    parse_encryption_options(options, environ or {"K": KEY, "OLD": "cd" * 32, "BAD": "xyz"}, problems)
    return problems


def test_key_option_rules() -> None:
    on = {"client_side_encryption": "aes-256-gcm"}
    assert _problems({**on, "encryption_key": "${K}"}) == []
    assert _problems({**on, "encryption_key_file": "/etc/k", "encryption_previous_keys": "${OLD}, /etc/old"}) == []
    literal = _problems({**on, "encryption_key": KEY})
    assert len(literal) == 1 and "reference" in literal[0] and KEY not in literal[0]
    assert "64 hexadecimal digits" in _problems({**on, "encryption_key": "${BAD}"})[0]
    assert "not set" in _problems({**on, "encryption_key": "${NOPE}"})[0]
    assert "exactly one" in _problems({**on, "encryption_key": "${K}", "encryption_key_file": "/k"})[0]
    assert "exactly one" in _problems(on)[0]
    assert "absolute path" in _problems({**on, "encryption_key_file": "k.key"})[0]
    assert "needs client_side_encryption" in _problems({"encryption_key": "${K}"})[0]
    assert "must be one of" in _problems({"client_side_encryption": "aes-128-cbc"})[0]
    previous = _problems({**on, "encryption_key": "${K}", "encryption_previous_keys": KEY})
    assert len(previous) == 1 and KEY not in previous[0]


def test_the_key_stays_out_of_reprs_and_config_errors() -> None:
    text = (
        "executablepath: /x\noptions:\n  region: r\n  bucket: b\n  folder: f\n"
        "  client_side_encryption: aes-256-gcm\n  encryption_key: ${K}\n"
    )
    config = parse_config(text, environ={"K": KEY})
    settings_ = config.client_encryption
    assert settings_ is not None and settings_.current.key is not None
    for shown in (repr(config), repr(settings_), str(settings_.current.key), repr(settings_.current)):
        assert KEY not in shown and bytes.fromhex(KEY).hex() not in shown
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace("${K}", KEY), environ={})
    assert KEY not in str(err.value)
