"""The signer of ``payload_signing: signed`` and the translation of a store's refusal into one naming line."""

from __future__ import annotations

import hashlib

from botocore.auth import AUTH_TYPE_MAPS, EMPTY_SHA256_HASH, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from gps3async.core.errors import AccessDenied, ModeRefused
from gps3async.core.storemodes.settings import StoreModes
from gps3async.s3.errors import translate
from gps3async.s3.storemodes.signing import SIGNER_NAME, PrecomputedPayloadSigner


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


def client_error(status: int, code: str, message: str) -> ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return ClientError(response, "PutObject")  # type: ignore[arg-type]


def test_a_refused_mode_becomes_one_line_naming_the_option() -> None:
    refused = translate(client_error(403, "AccessDenied", "UNSIGNED-PAYLOAD PUT is not allowed"), "PutObject s3://b/k")
    assert isinstance(refused, ModeRefused) and refused.fix == "set payload_signing: signed"
    assert str(refused) == (
        "PutObject s3://b/k: AccessDenied UNSIGNED-PAYLOAD PUT is not allowed"
        " (the store refused unsigned payloads: set payload_signing: signed)"
    )
    # once signed, the same answer is what it says: access denied
    denied = translate(client_error(403, "AccessDenied", "Access Denied"), "PutObject s3://b/k", StoreModes("signed"))
    assert isinstance(denied, AccessDenied) and "payload_signing" not in str(denied)
