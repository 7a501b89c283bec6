"""``python -m bench.run`` against an endpoint, bucket and prefix it did not start (here: a second local server)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.s3server import ACCESS_KEY, SECRET_KEY, make_client, start_rclone

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.s3server import S3Server

REPO = Path(__file__).resolve().parents[2]
BUCKET = "their-bucket"


@pytest.fixture
def their_store(tmp_path: Path) -> Iterator[tuple[S3Server, Any]]:
    """A store the harness must treat as someone else's: a bucket with an object outside the prefix."""
    server = start_rclone(tmp_path / "theirs")
    try:
        client = make_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="prod/cluster1/keep", Body=b"keep")
        yield server, client
    finally:
        server.stop()


def bench(endpoint: str, *args: str, credentials: bool = True) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    if credentials:
        env.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY)
    argv = [sys.executable, "-m", "bench.run", "--size", "12MiB", "--chunk", "5MiB", "--skip-segments",
            "--skip-invocations", "--skip-modes", "--skip-verify", "--skip-encryption", "--skip-catalogue",
            "--endpoint", endpoint, "--bucket", BUCKET, *args]  # fmt: skip
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


def keys(client: Any) -> list[str]:
    return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_bench_measures_another_store_and_leaves_only_what_was_there(their_store: tuple[S3Server, Any]) -> None:
    server, client = their_store
    doc = (REPO / "docs" / "benchmarks.md").read_text()
    result = bench(server.endpoint, "--prefix", "gps3async-bench")
    assert result.returncode == 0, result.stderr
    assert f"target: s3://{BUCKET}/gps3async-bench/ at {server.endpoint}" in result.stderr
    for tool in ("gps3async", "s5cmd", "aws s3 cp", "rclone"):
        for direction in ("upload", "download"):
            assert f"{tool} {direction}: " in result.stderr
    rows = [line for line in result.stdout.splitlines() if re.match(r"\| gps3async \| (upload|download) ", line)]
    assert len(rows) == 2 and all(row.rstrip(" |").endswith("n/a") for row in rows)  # no server CPU to see
    assert keys(client) == ["prod/cluster1/keep"]
    assert (REPO / "docs" / "benchmarks.md").read_text() == doc  # a run elsewhere does not rewrite the page


def test_bench_refuses_a_prefix_that_holds_objects(their_store: tuple[S3Server, Any]) -> None:
    server, client = their_store
    result = bench(server.endpoint, "--prefix", "prod/cluster1")
    assert result.returncode == 1
    assert "s3://their-bucket/prod/cluster1/ is not empty (it holds prod/cluster1/keep)" in result.stderr
    assert keys(client) == ["prod/cluster1/keep"]


@pytest.mark.parametrize(
    ("args", "credentials", "message"),
    [
        (["--prefix", "p"], False, "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        (["--prefix", "/"], True, "--prefix must name a key prefix"),
        (["--prefix", "a/../b"], True, "--prefix must name a key prefix"),
        ([], True, "--endpoint, --bucket and --prefix go together"),
    ],
)
def test_bench_target_mistakes_are_one_clear_line(
    their_store: tuple[S3Server, Any], args: list[str], credentials: bool, message: str
) -> None:
    server, client = their_store
    result = bench(server.endpoint, *args, credentials=credentials)
    assert result.returncode != 0 and message in result.stderr
    assert keys(client) == ["prod/cluster1/keep"]
