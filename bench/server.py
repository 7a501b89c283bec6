"""The S3 store of a whole run, and :class:`Bench`: the target, its client, scratch HOME and plugin code.

By default one local ``rclone serve s3`` in fast mode serves every tool and
measurement; with ``--endpoint`` the run visits the user's store instead
(:mod:`bench.target`).  The tools see it only through :meth:`Bench.env`, a
clean environment holding the target's credentials.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import BIN, REPO, SEGMENT_SIZE, SEGMENTS, WORK, progress
from bench.target import Target, check_prefix_is_free, credentials_env, remote_target
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, start_rclone

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.options import Options

BUCKET = "bench"


@dataclass(frozen=True)
class PluginCode:
    """Which gps3async the plugin processes run, and the environment that selects it."""

    description: str
    env: dict[str, str]


@dataclass
class Bench:
    """The target store, a boto3 client for it, a scratch HOME for every tool and the plugin's code."""

    target: Target
    client: Any
    home: Path
    options: Options
    plugin: PluginCode

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no user config or proxies leak into a tool; only the target's credentials."""
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
            **self.target.credentials,
            **extra,
        }

    def plugin_env(self) -> dict[str, str]:
        return self.env(**self.plugin.env)

    def server_cpu(self) -> float | None:
        return self.target.server_cpu()


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def plugin_code(rev: str | None, into: Path) -> PluginCode:
    """The installed working tree, or ``gps3async/`` as committed at ``rev`` exported into ``into``."""
    if rev is None:
        dirty = " with uncommitted changes" if git("status", "--porcelain", "--", "gps3async") else ""
        return PluginCode(f"working tree at {git('rev-parse', '--short', 'HEAD')}{dirty}", {})
    commit = git("rev-parse", "--short", f"{rev}^{{commit}}")
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", commit, "gps3async"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return PluginCode(f"commit {commit} (`--plugin-rev {rev}`)", {"PYTHONPATH": str(into)})


def server_parent(options: Options) -> Path:
    """Keep the server's objects in RAM (``/dev/shm``) when there is room, so disk writeback adds no noise."""
    needed = 2 * max(options.size, SEGMENTS * SEGMENT_SIZE)
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > needed:
        return shm
    return WORK


@contextmanager
def running_server(options: Options) -> Iterator[Bench]:
    """The run's :class:`Bench`: on the user's endpoint when the options name one, else on a local server."""
    home = Path(tempfile.mkdtemp(prefix="gps3async-bench-home-"))
    try:
        if options.endpoint:
            target = remote_target(options.endpoint, options.bucket, options.prefix, options.region, os.environ)
            check_prefix_is_free(target)
            progress(f"target: s3://{target.bucket}/{target.prefix} at {target.endpoint} (objects are written and"
                     " deleted under this prefix)")  # fmt: skip
            yield Bench(target, target.client(), home, options, plugin_code(options.plugin_rev, home / "plugin"))
        else:
            with local_target(options) as target:
                client = target.client()
                client.create_bucket(Bucket=target.bucket)
                yield Bench(target, client, home, options, plugin_code(options.plugin_rev, home / "plugin"))
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def local_target(options: Options) -> Iterator[Target]:
    root = Path(tempfile.mkdtemp(prefix="gps3async-bench-", dir=server_parent(options)))
    log = WORK / "rclone-serve.log"
    log.unlink(missing_ok=True)
    server = start_rclone(root / "s3", fast=True, log_path=log)
    try:
        yield Target(server.endpoint, BUCKET, "", REGION, credentials_env(ACCESS_KEY, SECRET_KEY, REGION), server)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def delete_prefix(bench: Bench, prefix: str) -> None:
    for page in bench.client.get_paginator("list_objects_v2").paginate(Bucket=bench.target.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            bench.client.delete_object(Bucket=bench.target.bucket, Key=item["Key"])


def object_size(bench: Bench, key: str) -> int:
    return int(bench.client.head_object(Bucket=bench.target.bucket, Key=key)["ContentLength"])
