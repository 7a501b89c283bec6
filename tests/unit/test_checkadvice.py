from __future__ import annotations

import pytest

from gps3async.core.checkadvice import MIB, LinkSample, likely_fix, mode_settings, suggest
from gps3async.core.errors import AccessDenied, BucketNotFound, CredentialsError, ModeRefused, TransientStorageError
from gps3async.core.storemodes.settings import StoreModes


def sample(mb_per_s: float, streams: int) -> LinkSample:
    return LinkSample(int(mb_per_s * 1e6), 1.0, streams)


@pytest.mark.parametrize(
    ("latency", "alone", "together", "chunk", "concurrency"),
    [
        (0.003, 100, 290, 16, 8),  # fast local link, parallel scales: more requests in flight
        (0.003, 100, 180, 16, 4),  # some gain
        (0.003, 100, 105, 16, 2),  # one request fills the link
        (0.050, 100, 290, 64, 8),  # 50 ms per request at 100 MB/s: 16 MiB takes 0.17 s < 9 x 50 ms
        (0.020, 100, 290, 32, 8),  # 32 MiB takes 0.34 s >= 9 x 20 ms
        (0.300, 100, 290, 64, 8),  # nothing is big enough: the largest candidate
    ],
)
def test_suggestion_follows_latency_and_parallel_gain(
    latency: float, alone: float, together: float, chunk: int, concurrency: int
) -> None:
    found = suggest(latency, sample(alone, 1), sample(together, 3))
    assert (found.chunksize, found.concurrency) == (chunk * MIB, concurrency)
    assert f"{round(latency * 1000)} ms per request" in found.why


def test_fixes_name_the_permission_the_operation_needs() -> None:
    denied = AccessDenied("UploadPart 1 of s3://b/f/k: access denied (AccessDenied)")
    assert likely_fix("UploadPart", denied, bucket="b", folder="f", kms=False) == (
        "allow s3:PutObject on arn:aws:s3:::b/f/* to this identity (bucket policy or IAM policy)"
    )
    listing = AccessDenied("ListObjectsV2 s3://b/f/: access denied (AccessDenied)")
    assert "s3:ListBucket on arn:aws:s3:::b " in likely_fix("ListObjectsV2", listing, bucket="b", folder="f", kms=False)
    assert "kms:GenerateDataKey" in likely_fix("PutObject", denied, bucket="b", folder="f", kms=True)
    assert "check aws_secret_access_key" in likely_fix(
        "PutObject",
        AccessDenied("PutObject: access denied (SignatureDoesNotMatch x)"),
        bucket="b",
        folder="f",
        kms=False,
    )
    assert "create bucket 'b'" in likely_fix("PutObject", BucketNotFound("x"), bucket="b", folder="f", kms=False)
    assert "give credentials" in likely_fix("credentials", CredentialsError("x"), bucket="b", folder="f", kms=False)
    tls = TransientStorageError("PutObject: SSLError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert "ca_cert" in likely_fix("PutObject", tls, bucket="b", folder="f", kms=False)
    assert "endpoint" in likely_fix("PutObject", TransientStorageError("x"), bucket="b", folder="f", kms=False)


def test_a_refused_mode_is_fixed_by_a_setting_not_a_permission() -> None:
    refused = ModeRefused("PutObject s3://b/f/k: AccessDenied UNSIGNED-PAYLOAD is not allowed (...)",
                          "set payload_signing: signed")  # fmt: skip
    assert likely_fix("PutObject", refused, bucket="b", folder="f", kms=False).startswith("set payload_signing: signed")


def test_mode_settings_name_only_what_changes() -> None:
    default = StoreModes()
    assert mode_settings(StoreModes("signed", "crc32c"), default) == "payload_signing: signed"
    assert mode_settings(StoreModes("unsigned", "md5"), default) == "upload_checksum: md5"
    assert mode_settings(StoreModes("signed", "md5"), default) == "payload_signing: signed, upload_checksum: md5"
