"""Shared fixtures: one real S3 server per session, per-test configs and a plugin runner."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.s3server import S3Server, installed_tool, make_client, start_rclone, write_plugin_config

BUCKET = "gpbackup"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    root = tmp_path_factory.mktemp("s3root")
    server = start_rclone(root, log_path=root.parent / "rclone.log")
    try:
        client = make_client(server.endpoint)
        client.create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3(s3_server: S3Server) -> Any:
    """A plain boto3 client for checking what the plugin left in the bucket."""
    return make_client(s3_server.endpoint)


def plugin_executable() -> str:
    return installed_tool("gpbackup_s3_plugin", "-e .")


@dataclass
class Plugin:
    """Runs the installed ``gpbackup_s3_plugin`` the way gpbackup does: one process per call."""

    config: Path
    folder: str
    home: Path
    workdir: Path

    def run(self, verb: str, *args: str, stdin: bytes | None = None, config: Path | None = None,
            raw: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        """Run ``verb CONFIG args...``; ``raw`` passes ``args`` exactly, without the config."""
        argv = self.argv(verb, *args, config=config, raw=raw)
        return subprocess.run(
            argv, input=stdin or b"", capture_output=True, timeout=timeout, env=self.env(), check=False
        )

    def argv(self, verb: str, *args: str, config: Path | None = None, raw: bool = False) -> list[str]:
        argv = [plugin_executable(), verb]
        if not raw and verb not in ("plugin_api_version", "--version"):
            argv.append(str(config or self.config))
        return [*argv, *args]

    def env(self) -> dict[str, str]:
        """The environment of a plugin call: HOME points at the test's own, for the log file."""
        return {**os.environ, "HOME": str(self.home)}

    def backup_dir(self, timestamp: str = "20261126101500") -> Path:
        path = self.workdir / "backups" / timestamp[:8] / timestamp
        path.mkdir(parents=True, exist_ok=True)
        return path

    def key(self, local_path: Path | str) -> str:
        return f"{self.folder}/" + "/".join(str(local_path).split("/")[-4:])


def write_config(path: Path, endpoint: str, folder: str, **options: object) -> Path:
    """The tests' plugin config: small chunks and concurrency 3 unless ``options`` say otherwise."""
    settings: dict[str, object] = {
        "backup_multipart_chunksize": "5MB",
        "backup_max_concurrent_requests": 3,
        "restore_multipart_chunksize": "5MB",
        "restore_max_concurrent_requests": 3,
        **options,
    }
    bucket = str(settings.pop("bucket", BUCKET))
    return write_plugin_config(path, plugin_executable(), endpoint, bucket, folder, **settings)


@pytest.fixture
def plugin(tmp_path: Path, s3_server: S3Server) -> Plugin:
    folder = f"tests/{uuid.uuid4().hex[:12]}"
    home = tmp_path / "home"
    home.mkdir()
    config = write_config(tmp_path / "s3_config.yaml", s3_server.endpoint, folder)
    return Plugin(config, folder, home, tmp_path / "seg0")


@pytest.fixture
def config_factory(tmp_path: Path, s3_server: S3Server, plugin: Plugin) -> Callable[..., Path]:
    def make(name: str = "alt.yaml", **options: object) -> Path:
        endpoint = str(options.pop("endpoint", s3_server.endpoint))
        return write_config(tmp_path / name, endpoint, plugin.folder, **options)

    return make
