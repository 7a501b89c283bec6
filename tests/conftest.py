"""Shared fixtures: real S3 servers per session, per-test configs and a plugin runner.

A test that runs the plugin runs twice: through the per-host agent (the
default) and in-process (``agent: "off"``), since both front doors must keep
the same guarantees; tests marked ``agent_only`` (long flows, recoveries inside
the shared S3 layer) and every test on the RGW go through the agent alone.
Each test gets its own agent socket directory, so its agents are its own, and
they are stopped when it ends.

``s3_server`` is the local rclone server unless a module asks for more stores
with one line, ``pytestmark = EVERY_STORE``: its S3 tests then run against
rclone, a real Ceph RGW over HTTP (``rgw``) and the same RGW over TLS with
``ca_cert`` (``rgw-tls``), and ``s3``, ``plugin``, ``config_factory`` and the
fault runner follow the store.  The RGW (:mod:`tests.rgw`) is one for the whole
session, shared by the xdist workers (:mod:`tests.rgwsession`); ``rgw_server``
gives its endpoints to tests that need RGW itself.  Where Ceph is not
installed, tests that need it skip with one line naming the packages; under CI
(``CI=true``) they fail instead.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gps3async.deploy.elf import is_elf
from tests import rgwsession
from tests.rgw import RGWEndpoints
from tests.s3server import S3Server, installed_tool, make_client, start_rclone, write_plugin_config

BUCKET = "gpbackup"
#: The stores a module's S3 tests can run against (the ids of ``s3_server``'s parameter).
STORES = ("rclone", "rgw", "rgw-tls")
#: ``pytestmark = EVERY_STORE``: run this module's tests against every store in :data:`STORES`.
#: On the RGW stores the plugin runs through the agent only (both front doors run on rclone).
EVERY_STORE = pytest.mark.stores(*STORES)
#: On one test of such a module: what it checks does not depend on the store (a stall, a refused
#: connection, retries running out) and it mostly waits, so it runs on rclone alone.
RCLONE_ONLY = pytest.mark.stores("rclone")
#: On a test, or on one case of it (``pytest.param(..., marks=AGENT_ONLY)``): what it checks lives in the
#: S3 layer both front doors share, so it runs through the agent alone (see the module docstring).
AGENT_ONLY = pytest.mark.agent_only


@pytest.hookimpl(trylast=True)  # after pytest's own tmp_path plugin has set up the session's base directory
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "stores(*names): run the module's S3 tests against each of these stores")
    config.addinivalue_line(
        "markers", "agent_only: the test's in-process variant is left out (its calls are covered in-process elsewhere)"
    )
    if not hasattr(config, "workerinput"):  # the session's first process: xdist's controller, or pytest alone
        # Not under the session's basetemp: pytest sessions of the same user prune each other's old ones.
        rgwsession.prepare(Path(tempfile.mkdtemp(prefix="gps3-rgw-", dir="/tmp")))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("stores")
    if marker is not None and "s3_server" in metafunc.fixturenames:
        metafunc.parametrize("s3_server", marker.args, ids=marker.args, indirect=True, scope="session")


def _param(item: pytest.Item, name: str, default: str) -> str:
    callspec = getattr(item, "callspec", None)
    return str(callspec.params.get(name, default)) if callspec is not None else default


def needs_rgw(item: pytest.Item) -> bool:
    return _param(item, "s3_server", "rclone") != "rclone" or "rgw_server" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need the RGW run last, and its start begins now, in the background, beside the others.

    In-process variants are left out on the RGW, and for tests marked ``agent_only``: long flows of
    dozens of plugin calls, where each in-process call starts Python and imports botocore (about
    1.2 s of CPU), whose calls the rest of the suite already runs in-process one by one.
    """
    left_out = [
        item for item in items
        if (needs_rgw(item) or item.get_closest_marker("agent_only")) and _param(item, "plugin", "") == "in-process"
    ]  # fmt: skip
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]
    rgw_tests = [item for item in items if needs_rgw(item)]
    if rgw_tests:
        items[:] = [item for item in items if not needs_rgw(item)] + rgw_tests
        if not config.option.collectonly:
            rgwsession.start_in_background()


def pytest_sessionfinish(session: pytest.Session) -> None:
    rgwsession.join_starter()


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):
        rgwsession.finish(logs_to=config._tmp_path_factory.getbasetemp() / "ceph-rgw-log")


@pytest.fixture(scope="session")
def rgw_server() -> RGWEndpoints:
    """The session's Ceph RGW (started once for every worker): endpoints, keys, bucket and CA."""
    reason = rgwsession.unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the RGW tests: {reason}")
        pytest.skip(reason)
    return rgwsession.endpoints()


@pytest.fixture(scope="session")
def s3_server(request: pytest.FixtureRequest) -> S3Server:
    """The S3 server of the test: rclone, or the RGW over HTTP or TLS for modules marked with more stores."""
    store = str(getattr(request, "param", "rclone"))
    if store == "rclone":
        server: S3Server = request.getfixturevalue("rclone_server")
        return server
    rgw: RGWEndpoints = request.getfixturevalue("rgw_server")
    if store == "rgw":
        return S3Server(rgw.endpoint, rgw.port, rgw.ca_cert.parent, None, store=store)
    tls = (rgw.ca_cert, rgw.tls_key)
    return S3Server(rgw.tls_endpoint, rgw.tls_port, rgw.ca_cert.parent, None, store=store, tls=tls)


@pytest.fixture(scope="session")
def rclone_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """The local ``rclone serve s3``, one per worker process."""
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
    return make_client(s3_server.endpoint, verify=str(s3_server.ca_cert) if s3_server.ca_cert else None)


def plugin_executable() -> str:
    """The installed ``gpbackup_s3_plugin``: the native client where it was compiled (CI: always)."""
    return installed_tool("gpbackup_s3_plugin", "-e .")


def python_client_executable() -> str:
    """The Python launcher (``scripts/gpbackup_s3_plugin_python``), which the native client execs."""
    return installed_tool("gpbackup_s3_plugin_python", "-e .")


def is_native(path: str) -> bool:
    with open(path, "rb") as handle:
        return is_elf(handle.read(4))


def door_executable(door: str) -> str:
    """The executable of a front door: ``native`` (the installed client) or ``python`` (the launcher)."""
    if door == "python":
        return python_client_executable()
    executable = plugin_executable()
    if not is_native(executable):
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test the native client, but {executable} is the Python launcher (no C compiler?)")
        pytest.skip(f"{executable} is the Python launcher: the native client was not compiled here")
    return executable


MODES = ("agent", "in-process")
#: The thin clients in front of the agent: the agent's own tests run through each (``through_both_doors``).
DOORS = ("native", "python")


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
    #: The CA of the store's self-signed certificate (the ``rgw-tls`` store), put in every config.
    ca_cert: Path | None = None
    #: What each call runs: the installed ``gpbackup_s3_plugin`` unless a test picks a door.
    executable: str = field(default_factory=plugin_executable)

    def run(self, verb: str, *args: str, stdin: bytes | None = None, config: Path | None = None,
            raw: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
        """Run ``verb CONFIG args...``; ``raw`` passes ``args`` exactly, without the config."""
        argv = self.argv(verb, *args, config=config, raw=raw)
        return subprocess.run(
            argv, input=stdin or b"", capture_output=True, timeout=timeout, env=self.env(), check=False
        )

    def argv(self, verb: str, *args: str, config: Path | None = None, raw: bool = False) -> list[str]:
        argv = [self.executable, verb]
        if not raw and verb not in ("plugin_api_version", "--version"):
            argv.append(str(config or self.config))
        return [*argv, *args]

    def env(self) -> dict[str, str]:
        """The environment of a plugin call: the test's own HOME (for the log file) and agent directory."""
        return {**os.environ, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.runtime)}

    def mode_options(self) -> dict[str, object]:
        """The options every config of this test carries: its front door, and the store's CA if it has one."""
        options: dict[str, object] = {"agent": "on" if self.mode == "agent" else "off"}
        if self.ca_cert is not None:
            options["ca_cert"] = str(self.ca_cert)
        return options

    def log_text(self) -> str:
        """Everything the plugin wrote to ``~/gpAdminLogs`` under this runner's HOME."""
        logs = sorted((self.home / "gpAdminLogs").glob("gpbackup_s3_plugin_*.log"))
        return "".join(path.read_text(encoding="utf-8", errors="replace") for path in logs)

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
def _plugin_in(tmp_path: Path, s3_server: S3Server, mode: str, door: str | None = None) -> Iterator[Plugin]:
    folder = f"tests/{uuid.uuid4().hex[:12]}"
    home = tmp_path / "home"
    home.mkdir()
    # Short, so socket paths stay well inside the 107 bytes a Unix socket name may have.
    runtime = Path(tempfile.mkdtemp(prefix="gps3-", dir="/tmp"))
    runner = Plugin(tmp_path / "s3_config.yaml", folder, home, tmp_path / "seg0", mode, runtime, s3_server.ca_cert)
    if door is not None:
        runner.executable = door_executable(door)
    write_config(runner.config, s3_server.endpoint, folder, **runner.mode_options())
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
def agent_plugin(request: pytest.FixtureRequest, tmp_path: Path, s3_server: S3Server) -> Iterator[Plugin]:
    """A plugin runner whose calls go through the agent (for the agent's own tests).

    Its door is the installed ``gpbackup_s3_plugin`` unless the test is marked :data:`through_both_doors`.
    """
    with _plugin_in(tmp_path, s3_server, "agent", getattr(request, "param", None)) as runner:
        yield runner


#: Run an ``agent_plugin`` test once through the native client and once through the Python client.
through_both_doors = pytest.mark.parametrize("agent_plugin", DOORS, indirect=True)


@pytest.fixture
def config_factory(tmp_path: Path, s3_server: S3Server, plugin: Plugin) -> Callable[..., Path]:
    def make(name: str = "alt.yaml", **options: object) -> Path:
        endpoint = str(options.pop("endpoint", s3_server.endpoint))
        return write_config(tmp_path / name, endpoint, plugin.folder, **{**plugin.mode_options(), **options})

    return make
