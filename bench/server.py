"""The local S3 server for a whole run, and :class:`Bench`: the server, its client, scratch HOME and plugin code.

One ``rclone serve s3`` in fast mode serves every tool and measurement; the
tools see it only through :meth:`Bench.env`, a clean environment.  Every
plugin call runs with ``XDG_RUNTIME_DIR`` inside this run's agent directory
(:mod:`bench.agentstats`), so the agents it starts are this run's alone.
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

from bench.agentstats import AgentHome, agent_root
from bench.common import BIN, REPO, SEGMENT_SIZE, SEGMENTS, WORK
from bench.measure import cpu_seconds
from tests.s3server import S3Server, make_client, start_rclone

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
    """The running server, a boto3 client for it, a scratch HOME for every tool, the plugin's code, agents' root."""

    server: S3Server
    client: Any
    home: Path
    options: Options
    plugin: PluginCode
    agents: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no user config, proxies or credentials leak into a tool."""
        return {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
            "AWS_EC2_METADATA_DISABLED": "true",
            **extra,
        }

    def plugin_env(self) -> dict[str, str]:
        """For plugin calls that start no agent (``--version``): still kept out of the user's agent directory."""
        return self.env(**self.plugin.env, XDG_RUNTIME_DIR=str(self.agents))

    def agent_home(self, name: str, config: Path) -> AgentHome:
        """A directory of its own for the agent of ``config``, and the plugin environment that selects it."""
        return AgentHome(self.agents / name, self.env(**self.plugin.env), str(BIN / "gpbackup_s3_plugin"), config)

    def server_cpu(self) -> float:
        return cpu_seconds(self.server.process.pid)


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
    root = Path(tempfile.mkdtemp(prefix="gps3async-bench-", dir=server_parent(options)))
    home = Path(tempfile.mkdtemp(prefix="gps3async-bench-home-"))
    log = WORK / "rclone-serve.log"
    log.unlink(missing_ok=True)
    server = start_rclone(root / "s3", fast=True, log_path=log)
    try:
        client = make_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        with agent_root() as agents:
            yield Bench(server, client, home, options, plugin_code(options.plugin_rev, home / "plugin"), agents)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def delete_prefix(client: Any, prefix: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=BUCKET, Key=item["Key"])


def object_size(client: Any, key: str) -> int:
    return int(client.head_object(Bucket=BUCKET, Key=key)["ContentLength"])
