"""``python -m gps3async.deploy`` on one machine: directories stand in for hosts, fakes stand in for ssh.

The bundle is built once per module, offline from a directory of wheels, for a
prefix under the test's temporary directory.  Hosts given as directories get
the install in ``<dir><prefix>``; hosts reached "over ssh" go through fake
``ssh``, ``scp``, ``rsync``, ``gpscp`` and ``gpsync`` scripts that act locally
(nothing here talks to any network address), so those land at the prefix
itself, where the installed launcher can run as gpbackup runs it.
"""

from __future__ import annotations

import json
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
from gps3async.deploy.elf import glibc_floor
from gps3async.deploy.interpreter import elf_files
from gps3async.deploy.sharedlibs import parse_ldd, taken_from_host
from tests.conftest import alive, wait_for
from tests.deploy.conftest import deploy
from tests.s3server import S3Server, write_plugin_config

REPO = Path(__file__).resolve().parents[2]
VERSION_LINE = f"gpbackup_s3_plugin version {__version__}"
#: The build's scratch directory (tempfile.TemporaryDirectory(prefix="gps3async-build-")).
SCRATCH = re.compile(rb"gps3async-build-[^/\s]*/")
#: What the fakes and the deploy tool need from the system, linked into a directory of their own so
#: that real copy tools (an installed rsync, say) cannot shadow the fakes.
SYSTEM_TOOLS = (
    "bash",
    "sh",
    "tar",
    "gzip",
    "rm",
    "mkdir",
    "mv",
    "cp",
    "cat",
    "env",
    "grep",
    "dirname",
    "basename",
    "getconf",
    "ldd",
)

FAKE_SSH = r"""#!/bin/bash
# ssh [-o OPTION]... HOST COMMAND: runs COMMAND here; host "unreachable" fails as ssh does (255).
while [ "$1" = "-o" ]; do shift 2; done
host=$1; shift
command=$*
echo "ssh $host ${command//$'\n'/; }" >> "$FAKE_LOG"
if [ "$host" = unreachable ]; then echo "ssh: connect to host unreachable port 22: Connection refused" >&2; exit 255; fi
if [ "$host" = stale ] && [[ "$*" == *--version ]]; then echo "gpbackup_s3_plugin version 0.0.1"; exit 0; fi
if [ "$host" = oldglibc ] && [[ "$*" == *GNU_LIBC_VERSION* ]]; then echo "glibc 2.17"; exit 0; fi
if [ "$host" = musl ] && [[ "$*" == *GNU_LIBC_VERSION* ]]; then echo "musl libc (x86_64)"; exit 0; fi
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
    argv = [str(home / "bin" / "python3"), "-I", "-S", str(home / "bin" / "gpbackup_s3_plugin_python"), "--version"]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    return result.stdout.strip()


# --------------------------------------------------------------------------- build


def test_bundle_brings_its_own_interpreter_relocatable_to_any_prefix(bundle: Path, prefix: str) -> None:
    with tarfile.open(bundle) as archive:
        members = {member.name: member for member in archive.getmembers()}
        assert members["./bin/python3"].isfile(), "the interpreter itself, not a link to the build machine's"
        launcher = archive.extractfile("./bin/gpbackup_s3_plugin_python")
        assert launcher is not None
        assert launcher.readline().decode() == f"#!{prefix}/bin/python3 -IS\n"
        native = archive.extractfile("./bin/gpbackup_s3_plugin")
        assert native is not None and native.read(4) == b"\x7fELF", "the native client, compiled for the bundle"
        meta = json.loads(archive.extractfile("./gps3async-bundle.json").read())  # type: ignore[union-attr]
        for member in members.values():
            if member.isfile():
                content = archive.extractfile(member)
                assert content is not None
                found = SCRATCH.search(content.read())
                assert found is None, f"{member.name} names the scratch directory"
    version = "{}.{}".format(*sys.version_info[:2])
    stdlib = f"./lib/python{version}"
    for left_out in (
        "test",
        "idlelib",
        "tkinter",
        "ensurepip",
        "lib2to3",
        "turtledemo",
        "site-packages/pip",
        "site-packages/setuptools",
        "site-packages/distutils-precedence.pth",
    ):
        assert f"{stdlib}/{left_out}" not in members, f"{left_out} is never loaded by the plugin"
    for kept in ("os.py", "asyncio/__init__.py", "ssl.py", f"__pycache__/os.cpython-{version.replace('.', '')}.pyc",
                 "site-packages/gps3async/__init__.py", "site-packages/uvloop/__init__.py"):  # fmt: skip
        assert f"{stdlib}/{kept}" in members, kept
    carried = {name.rsplit("/", 1)[1] for name in members if name.startswith("./lib/lib")}
    assert {"libssl.so.3", "libcrypto.so.3", "libffi.so.8", "libz.so.1"} <= carried, carried
    assert not any(name.startswith(("libc.so", "libm.so", "ld-linux")) for name in carried), carried
    assert meta["python_version"] == version and meta["prefix"] == prefix
    assert meta["client"].startswith("gpbackup_s3_plugin is the native client"), meta
    assert re.fullmatch(r"2\.\d+", meta["glibc"]), meta


def test_the_unpacked_bundle_runs_from_its_own_files_only(bundle: Path, tmp_path: Path) -> None:
    """Every ELF file finds what it loads inside the bundle (a relative rpath), C library aside."""
    home = tmp_path / "elsewhere"
    home.mkdir()
    with tarfile.open(bundle) as archive:
        archive.extractall(home)
    floors = []
    for path in elf_files(home):
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
        for entry in re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r\w*path: \[(.*)\]", dynamic):
            assert all(part.startswith("$ORIGIN") for part in entry.split(":")), (path, entry)
        env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
        ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True, env=env, check=False).stdout
        for name, resolved in parse_ldd(ldd):
            if not taken_from_host(name):
                assert resolved and resolved.startswith(str(home)), (path, name, resolved)
        floors.append(glibc_floor(path.read_bytes()))
    meta = json.loads((home / "gps3async-bundle.json").read_text())
    assert meta["glibc"] == str(max(floor for floor in floors if floor)), "the honest maximum over every ELF file"
    run = subprocess.run([str(home / "bin" / "python3"), "-I", "-S", "-c", "import sys, ssl; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert run.stdout.strip() == str(home), "the interpreter finds its standard library from where it is"


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


def test_a_host_with_too_old_a_glibc_is_refused_before_anything_is_copied(
    bundle: Path, fakes: tuple[Path, Path], tmp_path: Path
) -> None:
    write_tool(fakes[0], "scp", FAKE_SCP)
    needs = json.loads(tarfile.open(bundle).extractfile("./gps3async-bundle.json").read())["glibc"]  # type: ignore[union-attr]
    stand_in = tmp_path / "sdw1"
    line = one_line_failure(deploy("push", str(bundle), "--host", str(stand_in), "--host", "oldglibc",
                                   env=fake_env(fakes)))  # fmt: skip
    assert f"1 of 2 hosts failed: oldglibc: glibc 2.17 there, the bundle needs glibc {needs} or newer" in line
    line = one_line_failure(deploy("push", str(bundle), "--host", "musl", env=fake_env(fakes)))
    assert "musl: cannot tell its glibc version ('musl libc (x86_64)')" in line
    assert "scp" not in fakes[1].read_text(), "nothing is copied to a host that cannot run the bundle"
    assert not stand_in.exists(), "nor installed on the hosts that could"


# --------------------------------------------------------------------------- the installed plugin at work


def test_the_installed_plugin_ignores_greenplum_path_python_settings(
    bundle: Path, prefix: str, tmp_path: Path, fakes: tuple[Path, Path], s3_server: S3Server
) -> None:
    """greenplum_path.sh exports PYTHONPATH (and on Greenplum 6 PYTHONHOME) for Greenplum's own Python,
    and LD_LIBRARY_PATH=$GPHOME/lib, which holds Greenplum's own libssl, libcrypto, libz ..."""
    write_tool(fakes[0], "scp", FAKE_SCP)
    result = deploy("push", str(bundle), "--host", "sdw1", env=fake_env(fakes))
    assert result.returncode == 0, result.stderr
    hijack = tmp_path / "gphome" / "lib" / "python"
    hijack.mkdir(parents=True)
    (hijack / "yaml.py").write_text("raise ImportError('greenplum_path.sh hijacked the plugin')\n")
    # Real shared libraries under the bundle's libraries' names, without their symbols: loading any would fail.
    carried = [path.name for path in Path(prefix, "lib").glob("lib*.so*")]
    assert "libssl.so.3" in carried and "libbz2.so.1.0" in carried
    for name in carried:
        shutil.copy(Path(prefix, "lib", "libbz2.so.1.0"), hijack.parent / name)
    runtime = Path(tempfile.mkdtemp(prefix="gps3-", dir="/tmp"))
    env = {**os.environ, "HOME": str(tmp_path), "XDG_RUNTIME_DIR": str(runtime), "PYTHONPATH": str(hijack),
           "PYTHONHOME": str(tmp_path / "gphome" / "ext" / "python"),
           "LD_LIBRARY_PATH": str(hijack.parent)}  # fmt: skip
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
