"""The native thin client (gps3async/native/client.c): the same agent, the same answers, the Python client otherwise.

``GPS3ASYNC_CLIENT=native`` makes the native client fail with its reason instead
of exec'ing the Python client, so a call that succeeds under it was handed to
the agent by C alone.  The agent's own guarantees run through both doors in
test_agent.py; the first call of each of those tests is the native client's
fallback to the Python one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gps3async import API_VERSION, __version__
from gps3async.native.build import SOURCE_DIR, NativeBuildError, compile_client, config_header
from tests.conftest import (
    BUCKET,
    Plugin,
    door_executable,
    python_client_executable,
    through_both_doors,
    wait_for,
    write_config,
)
from tests.s3server import S3Server, open_uploads

TIMESTAMP = "20261126101500"


def native_only(plugin: Plugin, **extra: str) -> dict[str, str]:
    return {**plugin.env(), "GPS3ASYNC_CLIENT": "native", **extra}


def run(argv: list[str], env: dict[str, str], stdin: bytes = b"", **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(argv, input=stdin, capture_output=True, env=env, timeout=120, check=False, **kwargs)


def awkward_config(plugin: Plugin, s3_server: S3Server) -> Path:
    """A config every identity rule touches: CRLF lines, a commented quoted ``agent``, a ``${}`` reference,
    and the per-segment keys gpbackup adds."""
    base = write_config(plugin.config.parent / "base.yaml", s3_server.endpoint, plugin.folder)
    lines = [line for line in base.read_text().splitlines() if "agent:" not in line]
    lines += ['  agent: "On"   # the native client reads this too', "  pgport: 6001", "  backup_plugin_version: 0.2.0",
              "  # secret from ${GPS3_TEST_UNUSED_SECRET} and ${GPS3_TEST_UNUSED_SECRET}", ""]  # fmt: skip
    path = plugin.config.parent / "awkward.yaml"
    path.write_bytes("\r\n".join(lines).encode())
    return path


def test_the_native_client_reaches_the_agent_the_python_client_started(
    agent_plugin: Plugin, s3_server: S3Server
) -> None:
    """Both compute the same identity, byte for byte: the Python client starts the agent, C alone uses it."""
    plugin = agent_plugin
    config = awkward_config(plugin, s3_server)
    native = door_executable("native")
    env = {**plugin.env(), "AWS_CA_BUNDLE_UNUSED": "x", "GPS3_TEST_UNUSED_SECRET": "from the environment"}
    path = str(plugin.backup_dir() / "gpbackup_0_native")
    started = run([python_client_executable(), "backup_data", str(config), path], env, b"by the Python client")
    assert (started.returncode, started.stderr) == (0, b""), started.stderr.decode()
    (agent,) = plugin.agent_pids()
    env["GPS3ASYNC_CLIENT"] = "native"
    restored = run([native, "restore_data", str(config), path], env)
    assert (restored.returncode, restored.stderr, restored.stdout) == (0, b"", b"by the Python client")
    again = run([native, "backup_data", str(config), path], env, b"by the native client")
    assert (again.returncode, again.stderr) == (0, b""), again.stderr.decode()
    assert run([native, "restore_data", str(config), path], env).stdout == b"by the native client"
    listed = run([native, "list", str(config), "--json"], env)  # more arguments, another verb family
    assert (listed.returncode, listed.stderr) == (0, b""), listed.stderr.decode()
    assert plugin.agent_pids() == [agent]
    text = plugin.log_text()
    assert len(re.findall(r"served \w+ for pid \d+ \(native client\)", text)) == 4
    assert len(re.findall(r"served \w+ for pid \d+ \(Python client\)", text)) == 1
    # Another value of a referenced variable is another agent: the native client must not find this one.
    changed = run([native, "restore_data", str(config), path], {**env, "GPS3_TEST_UNUSED_SECRET": "other"})
    assert changed.returncode == 3 and b"no agent answers" in changed.stderr


def test_constant_verbs_and_usage_match_the_python_client(agent_plugin: Plugin) -> None:
    native = door_executable("native")
    env = agent_plugin.env()
    for argv in (["plugin_api_version"], ["--version"], ["--help"], ["backup_data"], ["no_such_verb", "x"], []):
        from_c, from_python = run([native, *argv], env), run([python_client_executable(), *argv], env)
        assert (from_c.returncode, from_c.stdout, from_c.stderr) == (
            from_python.returncode, from_python.stdout, from_python.stderr), argv  # fmt: skip
    assert run([native, "plugin_api_version"], env).stdout == f"{API_VERSION}\n".encode()
    assert f"gpbackup_s3_plugin version {__version__} (native client)" in agent_plugin.log_text()
    assert agent_plugin.agent_pids() == [], "answering needs no agent"


def test_what_the_native_client_leaves_to_the_python_client(agent_plugin: Plugin, s3_server: S3Server) -> None:
    """Under GPS3ASYNC_CLIENT=native each is one line saying why; without it the Python client serves it."""
    plugin = agent_plugin
    native = door_executable("native")
    path = str(plugin.backup_dir() / "gpbackup_0_fallback")
    off = write_config(plugin.config.parent / "off.yaml", s3_server.endpoint, plugin.folder, agent="off")
    odd = plugin.config.parent / "odd.yaml"
    odd.write_text(plugin.config.read_text() + "  # café\n")
    cases = {  # and how many agents run after each: "agent: off" runs in the Python client's process
        "no agent answers": (plugin.config, 1),  # no agent yet: the Python client starts one
        "agent: off": (off, 1),
        "not plain ASCII": (odd, 2),  # another config, another agent
    }
    for why, (config, agents) in cases.items():
        refused = run([native, "backup_data", str(config), path], native_only(plugin), b"x")
        assert refused.returncode == 3, refused
        assert refused.stderr.count(b"\n") == 1 and why.encode() in refused.stderr, refused.stderr
        served = run([native, "backup_data", str(config), path], plugin.env(), why.encode())
        assert (served.returncode, served.stderr) == (0, b""), served.stderr.decode()
        assert run([native, "restore_data", str(config), path], plugin.env()).stdout == why.encode()
        assert len(plugin.agent_pids()) == agents, why
    forced = run([native, "restore_data", str(plugin.config), path], {**plugin.env(), "GPS3ASYNC_CLIENT": "python"})
    assert forced.stdout == b"not plain ASCII"
    assert re.search(r"served restore_data for pid \d+ \(Python client\)", plugin.log_text())


@through_both_doors
def test_a_forwarded_signal_interrupts_the_call_and_leaves_nothing(agent_plugin: Plugin, s3: Any) -> None:
    plugin = agent_plugin
    path = str(plugin.backup_dir() / "gpbackup_0_signalled")
    assert plugin.run("backup_data", path, stdin=b"starts the agent").returncode == 0
    (agent,) = plugin.agent_pids()
    for signum in (signal.SIGINT, signal.SIGTERM):
        call = subprocess.Popen(plugin.argv("backup_data", path), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=plugin.env())  # fmt: skip
        assert call.stdin is not None
        call.stdin.write(os.urandom(6 << 20))  # more than a part: a multipart upload is open
        call.stdin.flush()
        wait_for(lambda: open_uploads(s3, BUCKET, plugin.folder) != [], 30, "the multipart upload to start")
        call.send_signal(signum)
        _, err = call.communicate(timeout=30)
        assert call.returncode != 0
        assert err.count(b"\n") == 1 and f"interrupted by {signum.name}".encode() in err, err
        assert open_uploads(s3, BUCKET, plugin.folder) == []
    assert plugin.agent_pids() == [agent]
    assert s3.get_object(Bucket=BUCKET, Key=plugin.key(path))["Body"].read() == b"starts the agent"


def test_the_generated_header_carries_the_verb_table_and_the_identity_inputs() -> None:
    header = config_header(python_version='3.x "quoted"\nline', interpreter="/opt/p/bin/python3")
    assert '#define GPS3_PYTHON_VERSION "3.x \\042quoted\\042\\012line"' in header
    assert '#define GPS3_INTERPRETER "/opt/p/bin/python3"' in header
    assert '{"restore_data_subset", 3, 3},' in header and '{"list_directory", 1, 2},' in header


def test_a_sanitizer_build_serves_calls_and_falls_back(agent_plugin: Plugin, tmp_path: Path) -> None:
    """AddressSanitizer and UBSan over the client's own code paths: hand-over, signals aside, fallback, answers."""
    plugin = agent_plugin
    venv_bin = Path(python_client_executable()).parent
    try:
        client = compile_client(tmp_path / "asan" / "gpbackup_s3_plugin", python_version=sys.version,
                                interpreter=str(venv_bin / "python3"), python_client=python_client_executable(),
                                sanitize=True)  # fmt: skip
    except NativeBuildError as err:  # a compiler without sanitizer runtimes
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no sanitizer build here: {err}")
    # Leaks of a process that exits at once are not worth a report; every other finding fails the call.
    env = {**plugin.env(), "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0:exitcode=99",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}  # fmt: skip
    native = {**env, "GPS3ASYNC_CLIENT": "native"}
    path = str(plugin.backup_dir() / "gpbackup_0_asan")
    first = run([str(client), "backup_data", str(plugin.config), path], env, b"through the Python client")
    assert (first.returncode, first.stderr) == (0, b""), first.stderr.decode()
    for data in (b"", b"a" * 70_000):
        stored = run([str(client), "backup_data", str(plugin.config), path], native, data)
        assert (stored.returncode, stored.stderr) == (0, b""), stored.stderr.decode()
        back = run([str(client), "restore_data", str(plugin.config), path], native)
        assert (back.returncode, back.stderr, back.stdout) == (0, b"", data)
    failed = run([str(client), "restore_data", str(plugin.config), path + "_missing"], env)
    assert failed.returncode == 1 and failed.stderr.count(b"\n") == 1
    for argv in (["--version"], ["plugin_api_version"], ["backup_data"]):
        answer = run([str(client), *argv], env)
        assert b"Sanitizer" not in answer.stderr and b"runtime error" not in answer.stderr, answer.stderr


def test_the_sources_ship_with_the_package() -> None:
    assert {path.name for path in SOURCE_DIR.iterdir()} >= {"client.c", "client.h", "place.c", "blake2b.c", "blake2b.h"}
