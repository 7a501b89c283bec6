"""The command lines of the clients under test, each as a :class:`Tool`, and the plugin's YAML config.

A new client is a ``<name>_tool(bench) -> Tool`` function added to :data:`TOOLS`;
the single-stream comparison and the command-lines section of the report pick
it up from there.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.harness.common import BIN, MIB
from tests.s3server import write_plugin_config

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bench.harness.agentstats import AgentHome
    from bench.harness.server import Bench

RCLONE_REMOTE = "benchs3"
TIMESTAMP = "20261126000000"


@dataclass(frozen=True)
class Tool:
    """How one client uploads stdin to ``key`` and downloads ``key`` to stdout."""

    name: str
    upload: list[str]
    download: list[str]
    env: dict[str, str]
    key: str
    notes: str = ""
    #: Where the tool's agent lives, for a tool that hands its work to one (gps3async): charged to the tool.
    agents: AgentHome | None = None


def gpbackup_path(content: int) -> str:
    return f"/x/backups/{TIMESTAMP[:8]}/{TIMESTAMP}/gpbackup_{content}_{TIMESTAMP}"


def plugin_config(
    bench: Bench, path: Path, folder: str, chunk: int | None, concurrency: int | None, **extra: object
) -> Path:
    """A plugin YAML for the target's ``folder``; a ``None`` size or concurrency leaves the key out so the
    plugin's default applies.

    ``extra`` are further options as written into the YAML, such as ``agent="off"``.  The credentials
    are ``${NAME}`` references to the tools' environment: no secret is written to the file.
    """
    target = bench.target
    options: dict[str, object] = {
        "region": target.region,
        "aws_access_key_id": "${AWS_ACCESS_KEY_ID}",
        "aws_secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
        "aws_session_token": "${AWS_SESSION_TOKEN}" if "AWS_SESSION_TOKEN" in target.credentials else None,
        **extra,
    }
    for verb in ("backup", "restore"):
        options[f"{verb}_multipart_chunksize"] = None if chunk is None else f"{chunk // MIB}MB"  # MB means MiB
        options[f"{verb}_max_concurrent_requests"] = concurrency
    executable = str(BIN / "gpbackup_s3_plugin")
    return write_plugin_config(path, executable, target.endpoint, target.bucket, target.key(folder), **options)


def gps3async_tool(bench: Bench, folder: str = "gps3async", **extra: object) -> Tool:
    """The plugin under test; another ``folder`` with ``extra`` options (e.g. ``upload_checksum="md5"``) is
    another config, so another agent, of its own."""
    o = bench.options
    config = plugin_config(bench, bench.home / f"{folder}.yaml", folder, o.chunk, o.concurrency, **extra)
    plugin, path = bench.plugin.executable, gpbackup_path(0)
    agents = bench.agent_home("singles" if folder == "gps3async" else folder, config)
    return Tool(
        "gps3async",
        [plugin, "backup_data", str(config), path],
        [plugin, "restore_data", str(config), path],
        agents.env,
        bench.target.key(f"{folder}/" + "/".join(path.split("/")[-4:])),
        "part size and concurrency from the YAML (`*_multipart_chunksize`, `*_max_concurrent_requests`),"
        " credentials as `${AWS_*}` references to the environment;"
        " through the per-host agent (the default `agent: on`)",
        agents,
    )


def s5cmd_tool(bench: Bench) -> Tool:
    o = bench.options
    base = [str(BIN / "s5cmd"), "--endpoint-url", bench.target.endpoint]
    sized = ["-c", str(o.concurrency), "-p", str(o.chunk // MIB)]
    key = bench.target.key("s5cmd/object")
    url = f"s3://{bench.target.bucket}/{key}"
    return Tool(
        "s5cmd",
        [*base, "pipe", *sized, url],
        [*base, "cat", *sized, url],
        bench.env(),
        key,
        "credentials and region from `AWS_*` variables",
    )


def aws_tool(bench: Bench) -> Tool:
    o = bench.options
    config = bench.home / "aws-config"
    config.write_text(
        f"[default]\nregion = {bench.target.region}\ns3 =\n"
        f"  multipart_chunksize = {o.chunk // MIB}MB\n"
        f"  max_concurrent_requests = {o.concurrency}\n"
        "  addressing_style = path\n"
    )
    base = [str(BIN / "aws"), "--endpoint-url", bench.target.endpoint, "s3", "cp"]
    key = bench.target.key("aws/object")
    url = f"s3://{bench.target.bucket}/{key}"
    env = bench.env(AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    return Tool(
        "aws s3 cp",
        [*base, "-", url],
        [*base, url, "-"],
        env,
        key,
        f"`AWS_CONFIG_FILE`: `[default]` `s3 =` multipart_chunksize = {o.chunk // MIB}MB (MiB),"
        f" max_concurrent_requests = {o.concurrency}, addressing_style = path",
    )


def rclone_tool(bench: Bench) -> Tool:
    o = bench.options
    prefix = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}_"
    remote = {
        "TYPE": "s3",
        "PROVIDER": "Other",
        "ENDPOINT": bench.target.endpoint,
        "ENV_AUTH": "true",  # the AWS_* variables of bench.env(), like every other tool
        "REGION": bench.target.region,
        "FORCE_PATH_STYLE": "true",
    }
    base = [str(BIN / "rclone"), "--config", os.devnull]
    key = bench.target.key("rclone/object")
    target = f"{RCLONE_REMOTE}:{bench.target.bucket}/{key}"
    sized = ["--s3-chunk-size", f"{o.chunk // MIB}Mi", "--s3-upload-concurrency", str(o.concurrency)]
    return Tool(
        "rclone",
        [*base, "rcat", *sized, target],
        [*base, "cat", target],
        bench.env(**{prefix + name: value for name, value in remote.items()}),
        key,
        f"remote `{RCLONE_REMOTE}` from `{prefix}*` variables (s3, provider Other, env_auth, path style);"
        " `cat` has no part size or concurrency: rclone reads a stream with one GET"
        " (`--multi-thread-*` only applies when writing local files)",
    )


#: gps3async first: the report's tables and command lines follow this order.
TOOLS: tuple[Callable[[Bench], Tool], ...] = (gps3async_tool, s5cmd_tool, aws_tool, rclone_tool)
