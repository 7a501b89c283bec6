"""The store modes (pure): digests per body, the parameters each mode sends, and reading a store's refusal."""

from __future__ import annotations

import base64
import hashlib

import crc32c
import pytest

from gps3async.core.integrity.checksums import encode_crc32c
from gps3async.core.storemodes.settings import CANDIDATES, StoreModes, digest_body, refusal_fix

BODY = bytes(range(256)) * 4099

UNSIGNED_CRC, SIGNED_MD5 = StoreModes(), StoreModes("signed", "md5")
UNSIGNED_MD5, UNSIGNED_NONE = StoreModes("unsigned", "md5"), StoreModes("unsigned", "none")


def test_each_mode_computes_what_it_sends_and_always_the_crc32c() -> None:
    md5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
    assert digest_body(BODY, UNSIGNED_CRC) == digest_body(BODY, UNSIGNED_NONE)
    assert digest_body(BODY, UNSIGNED_CRC).crc32c == crc32c.crc32c(BODY)
    assert (digest_body(BODY, UNSIGNED_CRC).sha256, digest_body(BODY, UNSIGNED_CRC).md5) == ("", "")
    both = digest_body(memoryview(bytearray(BODY)), SIGNED_MD5)
    assert (both.crc32c, both.sha256, both.md5) == (crc32c.crc32c(BODY), hashlib.sha256(BODY).hexdigest(), md5)
    assert digest_body(BODY, StoreModes("signed", "crc32c")).md5 == ""


def test_each_mode_sends_its_own_parameters_and_nothing_else() -> None:
    digest = digest_body(BODY, SIGNED_MD5)
    assert UNSIGNED_CRC.put_args(digest) == {"ChecksumCRC32C": encode_crc32c(digest.crc32c)}
    assert UNSIGNED_MD5.put_args(digest) == {"ContentMD5": digest.md5}
    assert UNSIGNED_NONE.put_args(digest) == {}
    assert UNSIGNED_CRC.create_args() == {"ChecksumAlgorithm": "CRC32C"}
    assert UNSIGNED_MD5.create_args() == UNSIGNED_NONE.create_args() == {}
    assert UNSIGNED_CRC.complete_part(2, '"e"', 7) == {"PartNumber": 2, "ETag": '"e"', "ChecksumCRC32C": "AAAABw=="}
    assert UNSIGNED_MD5.complete_part(2, '"e"', 7) == {"PartNumber": 2, "ETag": '"e"'}


def test_the_check_verb_tries_every_mode_once_the_default_first() -> None:
    assert CANDIDATES[0] == StoreModes()
    assert len(set(CANDIDATES)) == 6


@pytest.mark.parametrize(
    ("code", "message", "modes", "fix"),
    [
        ("AccessDenied", "UNSIGNED-PAYLOAD PUT is not allowed", UNSIGNED_CRC, "set payload_signing: signed"),
        ("InvalidRequest", "Unsigned payload not supported", UNSIGNED_MD5, "set payload_signing: signed"),
        ("XAmzContentSHA256Mismatch", "The provided header does not match", UNSIGNED_CRC, "payload_signing: signed"),
        ("InvalidArgument", "x-amz-content-sha256 must be a SHA-256", UNSIGNED_NONE, "payload_signing: signed"),
        ("InvalidArgument", "Unsupported header x-amz-checksum-crc32c", UNSIGNED_CRC, "set upload_checksum: md5"),
        ("InvalidRequest", "x-amz-sdk-checksum-algorithm is not valid", UNSIGNED_CRC, "set upload_checksum: md5"),
        ("InvalidArgument", "Invalid ChecksumAlgorithm", UNSIGNED_CRC, "set upload_checksum: md5"),
        ("NotImplemented", "A header you provided implies functionality that is not implemented", UNSIGNED_CRC,
         "set upload_checksum: md5"),
        ("InvalidRequest", "Missing required header for this request: Content-MD5", UNSIGNED_NONE,
         "the store requires Content-MD5: set upload_checksum: md5"),
        ("MissingContentMD5", "", UNSIGNED_CRC, "set upload_checksum: md5"),
    ],
)  # fmt: skip
def test_refusals_of_the_mode_name_the_option_that_fixes_them(
    code: str, message: str, modes: StoreModes, fix: str
) -> None:
    found = refusal_fix(code, message, modes)
    assert found is not None and str(found).endswith(fix) and str(found).endswith(found.setting)


@pytest.mark.parametrize(
    ("code", "message", "modes"),
    [
        ("AccessDenied", "Access Denied", UNSIGNED_CRC),  # a permission, not a mode
        ("SignatureDoesNotMatch", "The request signature we calculated does not match", UNSIGNED_CRC),
        ("BadDigest", "The Content-MD5 you specified did not match what we received.", UNSIGNED_MD5),
        ("BadDigest", "The CRC32C you specified did not match the calculated checksum.", UNSIGNED_CRC),
        ("XAmzContentSHA256Mismatch", "does not match", SIGNED_MD5),  # signed already: the body changed
        ("AccessDenied", "UNSIGNED-PAYLOAD is not allowed", StoreModes("signed", "crc32c")),
        ("InvalidArgument", "Unsupported header x-amz-checksum-crc32c", UNSIGNED_MD5),  # md5 sends none
        ("InvalidRequest", "Missing required header for this request: Content-MD5", UNSIGNED_MD5),
        ("NoSuchKey", "The specified key does not exist.", UNSIGNED_CRC),
    ],
)
def test_other_failures_name_no_option(code: str, message: str, modes: StoreModes) -> None:
    assert refusal_fix(code, message, modes) is None
