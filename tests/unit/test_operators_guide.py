"""The operator's guide's IAM policy grants exactly the S3 actions the code's requests need."""

from __future__ import annotations

import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "docs" / "operators-guide.md"
#: botocore client method -> the IAM action that authorizes the request.
IAM_ACTION = {
    "put_object": "s3:PutObject",
    "create_multipart_upload": "s3:PutObject",
    "upload_part": "s3:PutObject",
    "complete_multipart_upload": "s3:PutObject",
    "abort_multipart_upload": "s3:AbortMultipartUpload",
    "get_object": "s3:GetObject",
    "head_object": "s3:GetObject",
    "list_objects_v2": "s3:ListBucket",
    "delete_objects": "s3:DeleteObject",
    "delete_object": "s3:DeleteObject",
    "list_multipart_uploads": "s3:ListBucketMultipartUploads",
    "get_bucket_versioning": "s3:GetBucketVersioning",
    "list_object_versions": "s3:ListBucketVersions",
    "get_object_lock_configuration": "s3:GetBucketObjectLockConfiguration",
    "put_object_retention": "s3:PutObjectRetention",
    "get_object_retention": "s3:GetObjectRetention",
}
#: Actions a call needs by its parameters, not its method: DeleteObjects of version ids (a versioned bucket).
BY_PARAMETER = {"s3:DeleteObjectVersion"}


def client_methods() -> set[str]:
    """Every S3 client method the plugin calls (``self._client.x(...)`` or a paginator of ``x``)."""
    found: set[str] = set()
    for path in (REPO / "gps3async").rglob("*.py"):
        text = path.read_text()
        found |= set(re.findall(r"\b_client\.(\w+)\(", text)) - {"get_paginator"}
        found |= set(re.findall(r"get_paginator\(\"(\w+)\"\)", text))
    return found


def policy_actions() -> set[str]:
    (policy,) = re.findall(r"```json\n(.*?)```", GUIDE.read_text(), flags=re.DOTALL)
    actions: set[str] = set()
    for statement in json.loads(policy)["Statement"]:
        granted = statement["Action"]
        actions |= {granted} if isinstance(granted, str) else set(granted)
    return actions


def test_every_s3_request_of_the_code_has_a_known_iam_action() -> None:
    methods = client_methods()
    assert "upload_part" in methods and "list_objects_v2" in methods, "the scan finds the client's calls"
    unknown = methods - IAM_ACTION.keys()
    assert not unknown, f"new S3 calls {unknown}: add them to IAM_ACTION and to docs/operators-guide.md section 4"


def test_the_guide_grants_exactly_the_actions_the_code_needs() -> None:
    needed = {IAM_ACTION[method] for method in client_methods()} | BY_PARAMETER
    assert policy_actions() == needed
    table = GUIDE.read_text().split("## 4.", 1)[1].split("## 5.", 1)[0]
    for action in needed:
        assert f"`{action}`" in table, f"{action} is missing from the guide's table of requests"


def test_the_guide_says_what_every_verb_needs_granted() -> None:
    from gps3async.verbs import ANSWER_ONLY, VERBS

    section = GUIDE.read_text().split("## 4.", 1)[1].split("## 5.", 1)[0]
    by_verb = section.split("| verb | permissions |", 1)[1].split("\n\n", 1)[0]
    for verb in (*ANSWER_ONLY, *VERBS):
        assert f"`{verb}`" in by_verb, f"{verb} is missing from the guide's permissions by verb"
    assert "planned" not in section
