"""Where a benchmark run reads and writes: :class:`Target`, the local server or an endpoint the user names.

By default the harness starts its own ``rclone serve s3`` (:mod:`bench.harness.server`).
With ``--endpoint``, ``--bucket`` and ``--prefix`` it measures any S3 store
instead (MinIO, Ceph, AWS), with credentials from the environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, optionally
``AWS_SESSION_TOKEN``) so none is ever written to a file or a command line.
Every object the run writes lies under the prefix, and is deleted there again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bench.harness.common import BenchError
from bench.harness.measure import cpu_seconds

if TYPE_CHECKING:
    from collections.abc import Mapping

    from tests.s3server import S3Server

#: The environment variables a remote target's credentials come from.
CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


@dataclass(frozen=True)
class Target:
    """An endpoint, a bucket, the key prefix of everything the run writes, and how to sign in."""

    endpoint: str
    bucket: str
    #: Empty for the run's own server; otherwise ends with ``/``.
    prefix: str
    region: str
    #: ``AWS_*`` variables every tool gets.
    credentials: dict[str, str]
    #: The server this run started, or ``None`` for a store it only visits.
    server: S3Server | None = None

    @property
    def remote(self) -> bool:
        return self.server is None

    def key(self, name: str) -> str:
        return self.prefix + name

    def server_cpu(self) -> float | None:
        """CPU seconds the local server has used; ``None`` when the server is not ours to measure."""
        if self.server is None or self.server.process is None:  # a remote store, or a shared RGW not started here
            return None
        return cpu_seconds(self.server.process.pid)

    def client(self) -> Any:
        """A boto3 client for checking what the tools left (path style, as every tool here uses)."""
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.credentials["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.credentials.get("AWS_SESSION_TOKEN"),
            region_name=self.region,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


def credentials_env(key_id: str, secret: str, region: str, token: str = "") -> dict[str, str]:
    found = {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret, "AWS_REGION": region,
             "AWS_DEFAULT_REGION": region}  # fmt: skip
    if token:
        found["AWS_SESSION_TOKEN"] = token
    return found


def remote_target(endpoint: str, bucket: str, prefix: str, region: str, environ: Mapping[str, str]) -> Target:
    """The user's store; :raises BenchError: without credentials in ``environ``."""
    missing = [name for name in CREDENTIAL_VARIABLES[:2] if not environ.get(name)]
    if missing:
        raise BenchError(f"--endpoint needs credentials in the environment: set {' and '.join(missing)}")
    region = region or environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    credentials = credentials_env(
        environ["AWS_ACCESS_KEY_ID"], environ["AWS_SECRET_ACCESS_KEY"], region, environ.get("AWS_SESSION_TOKEN", "")
    )
    return Target(endpoint.rstrip("/"), bucket, prefix.rstrip("/") + "/", region, credentials)


def check_prefix_is_free(target: Target) -> None:
    """Refuse to run where objects already are: the run deletes what it writes under the prefix.

    :raises BenchError: naming one object found.
    """
    answer = target.client().list_objects_v2(Bucket=target.bucket, Prefix=target.prefix, MaxKeys=1)
    for item in answer.get("Contents", []):
        raise BenchError(
            f"s3://{target.bucket}/{target.prefix} is not empty (it holds {item['Key']}); the benchmark writes and"
            " deletes objects under its prefix, so give one that nothing else uses"
        )
