"""The S3 store of a whole run, and :class:`Bench`: the target, its client, scratch HOME and plugin code.

By default one local ``rclone serve s3`` in fast mode serves every tool and
measurement; with ``--endpoint`` the run visits the user's store instead
(:mod:`bench.harness.target`).  The tools see it only through :meth:`Bench.env`, a
clean environment holding the target's credentials.  Every
plugin call runs with ``XDG_RUNTIME_DIR`` inside this run's agent directory
(:mod:`bench.harness.agentstats`), so the agents it starts are this run's alone.
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

from bench.harness.agentstats import AgentHome, agent_root
from bench.harness.common import BIN, REPO, SEGMENT_SIZE, SEGMENTS, WORK, progress
from bench.harness.target import Target, check_prefix_is_free, credentials_env, remote_target
from tests.s3server import ACCESS_KEY, REGION, SECRET_KEY, start_rclone

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench.options import Options

BUCKET = "bench"


@dataclass(frozen=True)
class PluginCode:
    """Which gps3async the plugin processes run: the executable gpbackup would run, and its environment."""

    description: str
    env: dict[str, str]
    #: What ``pip install`` puts first: the native client when it was compiled, else the Python launcher.
    executable: str = str(BIN / "gpbackup_s3_plugin")
    #: The Python client (the native client execs it for the calls it cannot hand over).
    python_client: str = str(BIN / "gpbackup_s3_plugin_python")


@dataclass
class Bench:
    """The target store, a boto3 client for it, a scratch HOME for every tool, the plugin's code, agents' root."""

    target: Target
    client: Any
    home: Path
    options: Options
    plugin: PluginCode
    agents: Path

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
        """For plugin calls that start no agent (``--version``): still kept out of the user's agent directory."""
        return self.env(**self.plugin.env, XDG_RUNTIME_DIR=str(self.agents))

    def agent_home(self, name: str, config: Path) -> AgentHome:
        """A directory of its own for the agent of ``config``, and the plugin environment that selects it."""
        return AgentHome(self.agents / name, self.env(**self.plugin.env), self.plugin.executable, config)

    def server_cpu(self) -> float | None:
        """CPU seconds of the run's own server so far; ``None`` on the user's store."""
        return self.target.server_cpu()

    def server_cpu_since(self, before: float | None) -> float | None:
        after = self.server_cpu()
        return None if before is None or after is None else after - before


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
    # The installed launcher runs python -IS, which ignores PYTHONPATH: the revision's client runs from a plain
    # script instead (with site, as the console script did before the launcher), its agent from PYTHONPATH.
    executable = into / "gpbackup_s3_plugin"
    executable.write_text(f"#!{BIN / 'python3'}\nfrom gps3async.agent.client import main_exit\n\nmain_exit()\n")
    executable.chmod(0o755)
    # One client only: the installed native client's identity and fallback name the installed version.
    description = f"commit {commit} (`--plugin-rev {rev}`)"
    return PluginCode(description, {"PYTHONPATH": str(into)}, str(executable), str(executable))


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
        with remote(options) if options.endpoint else local_target(options) as (target, client), agent_root() as agents:
            yield Bench(target, client, home, options, plugin_code(options.plugin_rev, home / "plugin"), agents)
    finally:
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def remote(options: Options) -> Iterator[tuple[Target, Any]]:
    target = remote_target(options.endpoint, options.bucket, options.prefix, options.region, os.environ)
    check_prefix_is_free(target)
    progress(f"target: s3://{target.bucket}/{target.prefix} at {target.endpoint} (objects are written and"
             " deleted under this prefix)")  # fmt: skip
    client = target.client()
    try:
        yield target, client
    finally:
        # The prefix was empty when the run began: what is there now is the run's (agent warm-ups included).
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
            for item in page.get("Contents", []):
                client.delete_object(Bucket=target.bucket, Key=item["Key"])


@contextmanager
def local_target(options: Options) -> Iterator[tuple[Target, Any]]:
    root = Path(tempfile.mkdtemp(prefix="gps3async-bench-", dir=server_parent(options)))
    log = WORK / "rclone-serve.log"
    log.unlink(missing_ok=True)
    server = start_rclone(root / "s3", fast=True, log_path=log)
    try:
        target = Target(server.endpoint, BUCKET, "", REGION, credentials_env(ACCESS_KEY, SECRET_KEY, REGION), server)
        client = target.client()
        client.create_bucket(Bucket=BUCKET)
        yield target, client
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def delete_prefix(bench: Bench, prefix: str) -> None:
    for page in bench.client.get_paginator("list_objects_v2").paginate(Bucket=bench.target.bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            bench.client.delete_object(Bucket=bench.target.bucket, Key=item["Key"])


def object_size(bench: Bench, key: str) -> int:
    return int(bench.client.head_object(Bucket=bench.target.bucket, Key=key)["ContentLength"])
