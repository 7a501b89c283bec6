"""The signer of ``payload_signing: signed``."""

from __future__ import annotations

import hashlib

from botocore.auth import AUTH_TYPE_MAPS, EMPTY_SHA256_HASH, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from gps3async.s3signing import SIGNER_NAME, PrecomputedPayloadSigner


def signed(body: bytes, context: dict[str, str]) -> AWSRequest:
    request = AWSRequest("PUT", "https://s3.example.com/b/k", data=body)
    request.context.update(context)
    PrecomputedPayloadSigner(Credentials("id", "secret"), "s3", "us-east-1").add_auth(request)
    return request


def test_the_signer_signs_the_precomputed_sha256_without_hashing_the_body() -> None:
    claimed = hashlib.sha256(b"the body as it was hashed in a worker thread").hexdigest()
    request = signed(b"body", {"gps3async_payload_sha256": claimed})
    assert request.headers["X-Amz-Content-SHA256"] == claimed


def test_without_a_precomputed_hash_it_hashes_small_bodies_itself_even_over_https() -> None:
    assert signed(b"<Delete/>", {}).headers["X-Amz-Content-SHA256"] == hashlib.sha256(b"<Delete/>").hexdigest()
    assert signed(b"", {}).headers["X-Amz-Content-SHA256"] == EMPTY_SHA256_HASH


def test_the_signer_is_added_under_its_own_name_and_s3v4_stays_botocores() -> None:
    assert AUTH_TYPE_MAPS[SIGNER_NAME] is PrecomputedPayloadSigner
    assert AUTH_TYPE_MAPS["s3v4"] is S3SigV4Auth
