"""Shared fixtures: one real S3 server per session, per-test configs and a plugin runner.

Every test that runs the plugin runs twice: through the per-host agent (the
default) and in-process (``agent: "off"``), since both front doors must keep
the same guarantees.  Each test gets its own agent socket directory, so its
agents are its own, and they are stopped when it ends.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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


MODES = ("agent", "in-process")


@dataclass
class Plugin:
    """Runs the installed ``gpbackup_s3_plugin`` the way gpbackup does: one process per call."""

    config: Path
    folder: str
    home: Path
    workdir: Path
    #: ``agent`` or ``in-process``: which front door this test's configs select.
    mode: str
    #: XDG_RUNTIME_DIR of the calls: where their agents' sockets live.
    runtime: Path

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
        """The environment of a plugin call: the test's own HOME (for the log file) and agent directory."""
        return {**os.environ, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.runtime)}

    def mode_options(self) -> dict[str, object]:
        return {"agent": "on" if self.mode == "agent" else "off"}

    def agent_pids(self) -> list[int]:
        """The agents running for this test (from their pid files)."""
        pids = []
        for pidfile in (self.runtime / "gps3async").glob("*.pid"):
            try:
                pid = int(pidfile.read_text())
                os.kill(pid, 0)
            except (OSError, ValueError):
                continue
            pids.append(pid)
        return pids

    def stop_agents(self, timeout: float = 30) -> None:
        """SIGTERM every agent of this test and wait until it has gone."""
        pids = self.agent_pids()
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if alive(pid)]
            time.sleep(0.02)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    def backup_dir(self, timestamp: str = "20261126101500") -> Path:
        path = self.workdir / "backups" / timestamp[:8] / timestamp
        path.mkdir(parents=True, exist_ok=True)
        return path

    def key(self, local_path: Path | str) -> str:
        return f"{self.folder}/" + "/".join(str(local_path).split("/")[-4:])


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a detached agent is reparented and reaped by init; a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``condition`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


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


@contextmanager
def _plugin_in(tmp_path: Path, s3_server: S3Server, mode: str) -> Iterator[Plugin]:
    folder = f"tests/{uuid.uuid4().hex[:12]}"
    home = tmp_path / "home"
    home.mkdir()
    # Short, so socket paths stay well inside the 107 bytes a Unix socket name may have.
    runtime = Path(tempfile.mkdtemp(prefix="gps3-", dir="/tmp"))
    config = write_config(
        tmp_path / "s3_config.yaml", s3_server.endpoint, folder, agent="on" if mode == "agent" else "off"
    )
    runner = Plugin(config, folder, home, tmp_path / "seg0", mode, runtime)
    try:
        yield runner
    finally:
        runner.stop_agents()
        shutil.rmtree(runtime, ignore_errors=True)


@pytest.fixture(params=MODES)
def plugin(request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server) -> Iterator[Plugin]:
    """A plugin runner, once through the agent and once in-process."""
    with _plugin_in(tmp_path, s3_server, str(request.param)) as runner:
        yield runner


@pytest.fixture
def agent_plugin(tmp_path: Path, s3_server: S3Server) -> Iterator[Plugin]:
    """A plugin runner whose calls go through the agent (for the agent's own tests)."""
    with _plugin_in(tmp_path, s3_server, "agent") as runner:
        yield runner


@pytest.fixture
def config_factory(tmp_path: Path, s3_server: S3Server, plugin: Plugin) -> Callable[..., Path]:
    def make(name: str = "alt.yaml", **options: object) -> Path:
        endpoint = str(options.pop("endpoint", s3_server.endpoint))
        return write_config(tmp_path / name, endpoint, plugin.folder, **{**plugin.mode_options(), **options})

    return make
