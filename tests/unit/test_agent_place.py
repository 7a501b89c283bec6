"""The agent's placement rules (pure parts: identity, the agent setting, the socket directory checks)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gps3async.agent import wire
from gps3async.agent.place import PlaceRefused, agent_setting, identity, place_for

CONFIG = "executablepath: /x\noptions:\n  bucket: b\n  folder: f\n  endpoint: http://127.0.0.1:9000\n"


def test_identity_separates_configs_and_relevant_environment_only() -> None:
    env = {"HOME": "/home/gpadmin", "AWS_PROFILE": "backup", "PGPORT": "6000"}
    base = identity(CONFIG, env)
    assert identity(CONFIG, dict(env)) == base
    assert identity(CONFIG.replace("folder: f", "folder: g"), env) != base
    assert identity(CONFIG, {**env, "AWS_PROFILE": "other"}) != base
    assert identity(CONFIG, {**env, "TZ": "UTC"}) != base
    assert identity(CONFIG, {**env, "PGPORT": "6001", "PWD": "/elsewhere"}) == base
    # What gpbackup writes into each host's copy does not split a host's agent.
    assert identity(CONFIG + "  pgport: 6001\n  backup_plugin_version: 1.2.3\n", env) == base


@pytest.mark.parametrize(
    ("text", "setting"),
    [("", ""), ("  agent: off\n", "off"), ('  agent: "off"\n', "off"), ("  agent: 'ON'  # yes\n", "on"),
     ("  agent: maybe\n", "maybe"), ("  agent_idle_timeout: 5\n", "")],
)  # fmt: skip
def test_agent_setting_is_read_without_yaml(text: str, setting: str) -> None:
    assert agent_setting(CONFIG + text) == setting


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path (pytest's own are too long for socket names)."""
    path = Path(tempfile.mkdtemp(prefix="gps3-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_socket_directory_is_made_private_and_checked(short_tmp: Path) -> None:
    tmp_path = short_tmp
    env = {"XDG_RUNTIME_DIR": str(tmp_path)}
    place = place_for(CONFIG, env)
    directory = tmp_path / "gps3async"
    assert place.socket.startswith(f"{directory}/") and place.socket.endswith(".sock")
    assert directory.stat().st_mode & 0o777 == 0o700
    directory.chmod(0o755)
    with pytest.raises(PlaceRefused, match="mode 755"):
        place_for(CONFIG, env)
    directory.rmdir()
    directory.symlink_to(tmp_path)
    with pytest.raises(PlaceRefused, match="not a directory"):
        place_for(CONFIG, env)


def test_without_a_runtime_directory_the_socket_goes_under_tmp(short_tmp: Path) -> None:
    place = place_for(CONFIG, {"TMPDIR": str(short_tmp)})
    assert place.directory == f"{short_tmp}/gps3async-{os.getuid()}"


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    with pytest.raises(PlaceRefused, match="longer than a Unix socket allows"):
        place_for(CONFIG, {"XDG_RUNTIME_DIR": str(deep)})


def test_requests_round_trip_and_bad_headers_are_refused() -> None:
    fields = {"argv": ["backup_data", "cfg", "path"], "pid": 7, "cwd": "/"}
    encoded = wire.encode_request(fields)
    length = wire.request_length(encoded[: wire.REQUEST_HEADER])
    assert wire.decode_request(encoded[wire.REQUEST_HEADER : wire.REQUEST_HEADER + length]) == fields
    with pytest.raises(ValueError):
        wire.request_length(b"Z\0\0\0\1")
    with pytest.raises(ValueError):
        wire.request_length(wire.REQUEST + (wire.MAX_REQUEST + 1).to_bytes(4, "big"))
    assert wire.encode_exit(-1)[1:] == (-1).to_bytes(4, "big", signed=True)
