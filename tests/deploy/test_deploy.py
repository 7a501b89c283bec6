"""``python -m gps3async.deploy`` on one machine: directories stand in for hosts, fakes stand in for ssh.

The bundle is built once per module, offline from a directory of wheels, for a
prefix under the test's temporary directory.  Hosts given as directories get
the install in ``<dir><prefix>``; hosts reached "over ssh" go through fake
``ssh``, ``scp``, ``rsync``, ``gpscp`` and ``gpsync`` scripts that act locally
(nothing here talks to any network address), so those land at the prefix
itself, where the installed launcher can run as gpbackup runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gps3async import __version__
from tests.conftest import alive, wait_for
from tests.s3server import S3Server, write_plugin_config

REPO = Path(__file__).resolve().parents[2]
VERSION_LINE = f"gpbackup_s3_plugin version {__version__}"
#: The build's scratch venv (tempfile.TemporaryDirectory(prefix="gps3async-build-") / "venv").
SCRATCH = re.compile(rb"gps3async-build-[^/\s]*/venv")
#: What the fakes and the deploy tool need from the system, linked into a directory of their own so
#: that real copy tools (an installed rsync, say) cannot shadow the fakes.
SYSTEM_TOOLS = ("bash", "sh", "tar", "gzip", "rm", "mkdir", "mv", "cp", "cat", "env", "grep", "dirname", "basename")

FAKE_SSH = r"""#!/bin/bash
# ssh [-o OPTION]... HOST COMMAND: runs COMMAND here; host "unreachable" fails as ssh does (255).
while [ "$1" = "-o" ]; do shift 2; done
host=$1; shift
command=$*
echo "ssh $host ${command//$'\n'/; }" >> "$FAKE_LOG"
if [ "$host" = unreachable ]; then echo "ssh: connect to host unreachable port 22: Connection refused" >&2; exit 255; fi
if [ "$host" = stale ] && [[ "$*" == *--version ]]; then echo "gpbackup_s3_plugin version 0.0.1"; exit 0; fi
if [ "$host" = oldpython ] && [[ "$*" == *sys.version_info* ]]; then echo 3.6; exit 0; fi
exec bash -c "$*"
"""
FAKE_SCP = r"""#!/bin/bash
# scp -q [-o OPTION]... SOURCE HOST:TARGET, or rsync -a -e SSH SOURCE HOST:TARGET
args=("$@"); source=${args[-2]}; dest=${args[-1]}
echo "$(basename "$0") $source $dest" >> "$FAKE_LOG"
if [ "${dest%%:*}" = unreachable ]; then
    echo "ssh: connect to host unreachable port 22: Connection refused" >&2; exit 255
fi
cp "$source" "${dest#*:}"
"""
FAKE_GPSCP = r"""#!/bin/bash
# gpscp|gpsync -h HOST [-h HOST]... SOURCE =:TARGET: every host is this machine, so one copy.
hosts=(); while [ "$1" = "-h" ]; do hosts+=("$2"); shift 2; done
echo "$(basename "$0") ${hosts[*]} $1 $2" >> "$FAKE_LOG"
cp "$1" "${2#=:}"
"""
FAKE_PSQL = r"""#!/bin/bash
echo "psql $*" >> "$FAKE_LOG"
cat "$FAKE_HOSTS"
"""


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every wheel the plugin needs, this source tree's own included (what ``make wheels`` makes)."""
    wheels = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check",
         "--wheel-dir", str(wheels), str(REPO)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    return wheels


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("cluster") / "opt" / "gps3async")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, prefix: str) -> Path:
    output = tmp_path_factory.mktemp("bundle") / "gps3async.tar.gz"
    result = deploy("build", "--prefix", prefix, "--wheels", str(wheelhouse), "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return output


@pytest.fixture
def fakes(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A directory of fake remote tools, and the log they append to."""
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in SYSTEM_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed by these tests"
        (tools / tool).symlink_to(found)
    (tools / "python3").symlink_to(sys.executable)
    write_tool(fake_bin, "ssh", FAKE_SSH)
    yield fake_bin, tmp_path / "fake.log"


def write_tool(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)
    (directory / name).chmod(0o755)


def deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gps3async.deploy", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def fake_env(fakes: tuple[Path, Path]) -> dict[str, str]:
    fake_bin, log = fakes
    return {**os.environ, "PATH": f"{fake_bin}:{fake_bin.parent / 'tools'}", "FAKE_LOG": str(log)}


def one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("gps3async.deploy: "), result.stderr
    return lines[0]


def version_of_copy(home: Path) -> str:
    """Run a stand-in host's copy with its own interpreter (its shebang names the real prefix)."""
    result = subprocess.run([str(home / "bin" / "python"), "-I", str(home / "bin" / "gpbackup_s3_plugin"), "--version"],
                            capture_output=True, text=True, check=True)  # fmt: skip
    return result.stdout.strip()


# --------------------------------------------------------------------------- build


def test_bundle_is_a_venv_relocated_to_its_prefix(bundle: Path, prefix: str) -> None:
    with tarfile.open(bundle) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert members["./bin/python3"].issym(), "the venv points at the base interpreter, not a copy of it"
        launcher = archive.extractfile("./bin/gpbackup_s3_plugin")
        assert launcher is not None
        assert launcher.readline().decode() == f"#!{prefix}/bin/python -IS\n"
        for member in members.values():
            if member.isfile():
                content = archive.extractfile(member)
                assert content is not None
                found = SCRATCH.search(content.read())
                assert found is None, f"{member.name} names the scratch directory"
    assert any(name.endswith(".pyc") for name in members), "byte-code is compiled at build time"


def test_build_refuses_bad_input_in_one_line(tmp_path: Path, wheelhouse: Path) -> None:
    output = str(tmp_path / "b.tar.gz")
    assert "absolute" in one_line_failure(deploy("build", "--prefix", "opt/x", "--wheels", str(wheelhouse),
                                                 "--output", output))  # fmt: skip
    assert "no such directory" in one_line_failure(
        deploy("build", "--prefix", "/opt/x", "--wheels", str(tmp_path / "none"), "--output", output)
    )
    assert "python9 not found" in one_line_failure(
        deploy("build", "--prefix", "/opt/x", "--python", str(tmp_path / "python9"), "--output", output)
    )
    empty = tmp_path / "empty-wheels"
    empty.mkdir()
    assert "installing gps3async" in one_line_failure(
        deploy("build", "--prefix", "/opt/x", "--wheels", str(empty), "--output", output)
    )
    assert not Path(output).exists()


# --------------------------------------------------------------------------- push to stand-in directories


def test_push_to_directories_standing_in_for_hosts(bundle: Path, prefix: str, tmp_path: Path) -> None:
    hosts = [tmp_path / "sdw1", tmp_path / "sdw2"]
    args = ["push", str(bundle), *(arg for host in hosts for arg in ("--host", str(host)))]
    result = deploy(*args)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    for host in hosts:
        home = Path(f"{host}{prefix}")
        assert version_of_copy(home) == VERSION_LINE
        assert f"{host}: {VERSION_LINE} at {home}" in result.stdout
        (home / "left-by-the-old-install").touch()
    again = deploy(*args)  # an upgrade: the new tree replaces the old one whole
    assert again.returncode == 0, again.stderr
    for host in hosts:
        home = Path(f"{host}{prefix}")
        assert not (home / "left-by-the-old-install").exists()
        assert sorted(path.name for path in home.parent.iterdir()) == ["gps3async"], "no .new or .old left"
        assert version_of_copy(home) == VERSION_LINE


def test_hosts_come_from_the_cluster_or_a_hosts_file(
    bundle: Path, prefix: str, tmp_path: Path, fakes: tuple[Path, Path]
) -> None:
    fake_bin, log = fakes
    write_tool(fake_bin, "psql", FAKE_PSQL)
    listed = tmp_path / "psql-out"
    listed.write_text(f"{tmp_path / 'mdw'}\n{tmp_path / 'sdw1'}\n")
    result = deploy("push", str(bundle), env={**fake_env(fakes), "FAKE_HOSTS": str(listed)})
    assert result.returncode == 0, result.stderr
    assert "SELECT DISTINCT hostname FROM gp_segment_configuration" in log.read_text()
    assert version_of_copy(Path(f"{tmp_path / 'mdw'}{prefix}")) == VERSION_LINE
    assert version_of_copy(Path(f"{tmp_path / 'sdw1'}{prefix}")) == VERSION_LINE

    hosts_file = tmp_path / "hosts"
    hosts_file.write_text(f"# segment hosts\n\n{tmp_path / 'sdw2'}   # rack 2\n")
    result = deploy("push", str(bundle), "--hosts-file", str(hosts_file), env=fake_env(fakes))
    assert result.returncode == 0, result.stderr
    assert version_of_copy(Path(f"{tmp_path / 'sdw2'}{prefix}")) == VERSION_LINE
    assert log.read_text().count("psql") == 1, "a hosts file means no question to the cluster"


def test_no_hosts_and_no_cluster_fails_in_one_line(bundle: Path, fakes: tuple[Path, Path]) -> None:
    assert "psql is not on PATH" in one_line_failure(deploy("push", str(bundle), env=fake_env(fakes)))


def test_a_file_that_is_not_a_bundle_fails_in_one_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar file")
    assert "is not a bundle" in one_line_failure(deploy("push", str(junk), "--host", str(tmp_path / "h")))
    foreign = tmp_path / "foreign.tar.gz"
    with tarfile.open(foreign, "w:gz") as archive:
        (tmp_path / "gps3async-bundle.json").write_text('{"prefix": "/opt/x"}')
        archive.add(tmp_path / "gps3async-bundle.json", arcname="./gps3async-bundle.json")
    assert "is not a bundle" in one_line_failure(deploy("push", str(foreign), "--host", str(tmp_path / "h")))


# --------------------------------------------------------------------------- push over (fake) ssh


@pytest.mark.parametrize("copier", ["gpsync", "gpscp", "rsync", "scp"])
def test_push_over_ssh_copies_with_the_first_tool_found(
    bundle: Path, prefix: str, fakes: tuple[Path, Path], copier: str
) -> None:
    fake_bin, log = fakes
    preference = ["gpsync", "gpscp", "rsync", "scp"]
    for tool in preference[preference.index(copier) :]:  # this tool and every one it is preferred to
        write_tool(fake_bin, tool, FAKE_GPSCP if tool.startswith("gp") else FAKE_SCP)
    result = deploy("push", str(bundle), "--host", "sdw1", env=fake_env(fakes))
    assert result.returncode == 0, result.stderr
    assert f"with {copier}" in result.stdout
    calls = log.read_text().splitlines()
    copies = [call for call in calls if not call.startswith("ssh ")]
    assert len(copies) == 1 and copies[0].startswith(copier), calls
    copied_to = copies[0].rsplit(" ", 1)[1].split(":")[-1]
    assert not Path(copied_to).exists(), "the copied bundle is removed after unpacking"
    assert calls[-1] == f"ssh sdw1 {prefix}/bin/gpbackup_s3_plugin --version"
    launched = subprocess.run([f"{prefix}/bin/gpbackup_s3_plugin", "--version"], capture_output=True, text=True)
    assert launched.stdout.strip() == VERSION_LINE


def test_an_unreachable_host_fails_in_one_line_before_anything_is_copied(
    bundle: Path, prefix: str, tmp_path: Path, fakes: tuple[Path, Path]
) -> None:
    write_tool(fakes[0], "scp", FAKE_SCP)
    stand_in = tmp_path / "sdw1"
    line = one_line_failure(deploy("push", str(bundle), "--host", str(stand_in), "--host", "unreachable",
                                   env=fake_env(fakes)))  # fmt: skip
    assert "1 of 2 hosts failed: unreachable: unreachable (ssh: connect to host unreachable" in line
    assert not stand_in.exists(), "nothing is installed anywhere while a host cannot be reached"
    assert "scp" not in fakes[1].read_text()


def test_a_version_mismatch_fails_in_one_line(bundle: Path, fakes: tuple[Path, Path]) -> None:
    write_tool(fakes[0], "scp", FAKE_SCP)
    line = one_line_failure(deploy("push", str(bundle), "--host", "stale", env=fake_env(fakes)))
    assert "1 of 1 hosts failed: stale: version mismatch" in line
    assert "answers 'gpbackup_s3_plugin version 0.0.1'" in line


def test_a_host_with_another_python_version_fails_in_one_line(bundle: Path, fakes: tuple[Path, Path]) -> None:
    write_tool(fakes[0], "scp", FAKE_SCP)
    line = one_line_failure(deploy("push", str(bundle), "--host", "oldpython", env=fake_env(fakes)))
    assert "oldpython: " in line and "is Python 3.6 there, the bundle was built with 3." in line
    assert "scp" not in fakes[1].read_text(), "nothing is copied to a host that cannot run the bundle"


def test_a_host_without_the_same_python_fails_in_one_line(
    bundle: Path, tmp_path: Path, fakes: tuple[Path, Path]
) -> None:
    fake_bin, _ = fakes
    # A host whose ssh runs commands somewhere the bundle's base interpreter is missing.
    write_tool(
        fake_bin,
        "ssh",
        FAKE_SSH.replace('exec bash -c "$*"', 'echo "bash: $1: No such file or directory" >&2; exit 127'),
    )
    write_tool(fake_bin, "scp", FAKE_SCP)
    line = one_line_failure(deploy("push", str(bundle), "--host", "sdw9", env=fake_env(fakes)))
    assert "sdw9:" in line and "does not run there" in line and "the venv needs it at that path" in line


# --------------------------------------------------------------------------- the installed plugin at work


def test_the_installed_plugin_ignores_greenplum_path_python_settings(
    bundle: Path, prefix: str, tmp_path: Path, fakes: tuple[Path, Path], s3_server: S3Server
) -> None:
    """greenplum_path.sh exports PYTHONPATH (and on Greenplum 6 PYTHONHOME) for Greenplum's own Python."""
    write_tool(fakes[0], "scp", FAKE_SCP)
    result = deploy("push", str(bundle), "--host", "sdw1", env=fake_env(fakes))
    assert result.returncode == 0, result.stderr
    hijack = tmp_path / "gphome" / "lib" / "python"
    hijack.mkdir(parents=True)
    (hijack / "yaml.py").write_text("raise ImportError('greenplum_path.sh hijacked the plugin')\n")
    runtime = Path(tempfile.mkdtemp(prefix="gps3-", dir="/tmp"))
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(hijack),
           "PYTHONHOME": str(tmp_path / "gphome" / "ext" / "python")}  # fmt: skip
    config = write_plugin_config(tmp_path / "s3.yaml", f"{prefix}/bin/gpbackup_s3_plugin", s3_server.endpoint,
                                 "gpbackup", "tests/deploy")  # fmt: skip
    data = os.urandom(300_000)
    path = f"{tmp_path}/backups/20261127/20261127000000/gpbackup_0_20261127000000"
    try:
        for verb, stdin in (("backup_data", data), ("restore_data", b"")):
            run = subprocess.run([f"{prefix}/bin/gpbackup_s3_plugin", verb, str(config), path], input=stdin,
                                 capture_output=True, env=env, timeout=120, check=False)  # fmt: skip
            assert (run.returncode, run.stderr) == (0, b""), run.stderr.decode()
        assert run.stdout == data
        (pidfile,) = (runtime / "gps3async").glob("*.pid")
        agent = int(pidfile.read_text())
        assert alive(agent), "the call was served by an agent, not in-process"
        log = "".join(path.read_text() for path in (tmp_path / "gpAdminLogs").glob("*.log"))
        assert "running in-process" not in log
    finally:
        for pidfile in (runtime / "gps3async").glob("*.pid"):
            pid = int(pidfile.read_text())
            os.kill(pid, 15)
            wait_for(lambda pid=pid: not alive(pid), 30, "the agent to stop")
        shutil.rmtree(runtime, ignore_errors=True)
