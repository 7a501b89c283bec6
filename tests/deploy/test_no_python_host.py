"""The bundle on a host with no Python at all: a minimal Debian root filesystem, entered with chroot.

The bundle is built and pushed the way an operator does (``deploy build``, then
``deploy push`` to a directory standing in for the host, which lands it at
``<rootfs><prefix>``), and every call then runs inside the chroot, where no
Python exists outside the bundle, against the session's S3 server on
127.0.0.1 (a chroot shares the network).  One test: the root filesystem and
the build are the slow part, and they run in one xdist worker while the others
go on with the suite.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gps3async import __version__
from gps3async.deploy.elf import glibc_floor
from gps3async.deploy.interpreter import elf_files
from tests.conftest import alive, plugin_executable, wait_for
from tests.deploy.conftest import CHOSEN, deploy
from tests.deploy.rootfs import apt_mirrors, minimal_rootfs, require
from tests.s3server import S3Server, write_plugin_config

if TYPE_CHECKING:
    from collections.abc import Iterator

#: The environment of a call inside the chroot: nothing from this machine's.
CHROOT_ENV = ("env", "-i", "PATH=/usr/bin:/bin", "HOME=/home/gpadmin", "XDG_RUNTIME_DIR=/run/gpadmin")


def in_chroot(rootfs: Path, *argv: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["chroot", str(rootfs), *CHROOT_ENV, *argv], input=stdin, capture_output=True,
                          timeout=300, check=False)  # fmt: skip


def plugin(rootfs: Path, launcher: str, verb: str, *args: str, stdin: bytes = b"") -> bytes:
    result = in_chroot(rootfs, launcher, verb, *args, stdin=stdin)
    assert (result.returncode, result.stderr) == (0, b""), (verb, result.stderr.decode(errors="replace"))
    return result.stdout


def test_apt_mirrors_come_from_both_sources_formats() -> None:
    deb822 = (
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n"
    )
    one_line = (
        "# comment\ndeb [arch=amd64] http://other.example/debian bookworm main\n"
        "deb http://x/y bookworm-backports main\n"
    )
    assert apt_mirrors({"debian.sources": deb822}) == ["http://mirror.example/debian"]
    assert apt_mirrors({"sources.list": one_line, "a.sources": deb822}) == [
        "http://mirror.example/debian", "http://other.example/debian",
    ]  # fmt: skip
    assert apt_mirrors({"x.list.disabled": one_line}) == []


def test_the_bundle_runs_where_there_is_no_python(
    tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, bundle: Path, prefix: str, rclone_server: S3Server
) -> None:
    require("patchelf", "ldd", "mount", "umount")
    rootfs = minimal_rootfs(tmp_path_factory)
    with mounted_proc(rootfs):
        run_the_plugin_inside(rootfs, wheelhouse, bundle, prefix, rclone_server)


@contextlib.contextmanager
def mounted_proc(rootfs: Path) -> Iterator[None]:
    """/proc, as every real host has it: the dynamic linker reads /proc/self/exe to resolve the
    interpreter's ``$ORIGIN`` (without it, ``bin/python3`` would not find ``lib/libpython3.X.so``)."""
    subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(rootfs / "proc")], check=True, capture_output=True)


def run_the_plugin_inside(rootfs: Path, wheelhouse: Path, bundle: Path, prefix: str, server: S3Server) -> None:
    found = in_chroot(rootfs, "/bin/sh", "-c", "command -v python3 || command -v python || ls /usr/lib | grep python")
    assert found.returncode != 0 and found.stdout == b"", f"the root filesystem has a Python: {found.stdout!r}"
    result = deploy("push", str(bundle), "--host", str(rootfs))  # a directory stands in for the host
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    home = rootfs / prefix.lstrip("/")
    floors = {path: glibc_floor(path.read_bytes()) for path in elf_files(home)}
    meta = json.loads((home / "gps3async-bundle.json").read_text())
    assert meta["glibc"] == str(max(floor for floor in floors.values() if floor)), "the maximum over every ELF file"
    if "for glibc 2.17" in (wheelhouse / CHOSEN).read_text():
        assert any(wheel.name.startswith("cryptography-") and "manylinux2014" in wheel.name
                   for wheel in wheelhouse.iterdir()), sorted(wheelhouse.iterdir())  # fmt: skip
        from_wheels = {path: floor for path, floor in floors.items() if "site-packages" in path.parts}
        assert from_wheels and all(floor is None or floor <= (2, 17) for floor in from_wheels.values()), from_wheels

    launcher = f"{prefix}/bin/gpbackup_s3_plugin"
    version = f"gpbackup_s3_plugin version {__version__}"
    assert plugin(rootfs, launcher, "--version").decode().strip() == version
    ours = subprocess.run([plugin_executable(), "plugin_api_version"], capture_output=True, check=True).stdout
    assert plugin(rootfs, launcher, "plugin_api_version") == ours

    in_chroot(rootfs, "mkdir", "-p", "/home/gpadmin", "/run/gpadmin", "/data/backups")
    config = write_plugin_config(rootfs / "home/gpadmin/s3.yaml", launcher, server.endpoint, "gpbackup",
                                 "tests/no-python-host")  # fmt: skip
    inside = "/" + str(config.relative_to(rootfs))
    report = plugin(rootfs, launcher, "check", inside).decode()
    assert any(line.split()[:2] == ["result", "ok"] for line in report.splitlines()), report

    timestamp = "20261206040000"
    backup_dir = f"/data/backups/{timestamp[:8]}/{timestamp}"
    tables = {f"{backup_dir}/gpbackup_0_{timestamp}_{oid}": os.urandom(size)
              for oid, size in ((16384, 0), (16385, 1024), (16386, 700_000))}  # fmt: skip
    for path, data in tables.items():
        plugin(rootfs, launcher, "backup_data", inside, path, stdin=data)
    for path, data in tables.items():
        assert plugin(rootfs, launcher, "restore_data", inside, path) == data, path
    # In-process too (agent: off): site runs, and the whole plugin loads in the call from the trimmed library.
    no_agent = write_plugin_config(rootfs / "home/gpadmin/s3-no-agent.yaml", launcher, server.endpoint, "gpbackup",
                                   "tests/no-python-host", agent="off")  # fmt: skip
    path, data = next(reversed(tables.items()))
    assert plugin(rootfs, launcher, "restore_data", "/" + str(no_agent.relative_to(rootfs)), path) == data
    (rootfs / backup_dir.lstrip("/")).mkdir(parents=True)
    metadata = f"{backup_dir}/gpbackup_{timestamp}_metadata.sql"
    (rootfs / metadata.lstrip("/")).write_text("CREATE TABLE t (a int);\n")
    plugin(rootfs, launcher, "backup_file", inside, metadata)
    (rootfs / metadata.lstrip("/")).unlink()
    plugin(rootfs, launcher, "restore_file", inside, metadata)
    assert (rootfs / metadata.lstrip("/")).read_text() == "CREATE TABLE t (a int);\n"

    log = "".join(path.read_text() for path in (rootfs / "home/gpadmin/gpAdminLogs").glob("*.log"))
    # The first call started the agent through the Python launcher; the native client handed over the rest.
    assert len(re.findall(r"served \w+ for pid \d+ \(native client\)", log)) >= 5, log
    pidfiles = sorted((rootfs / "run/gpadmin/gps3async").glob("*.pid"))
    assert len(pidfiles) == 1, "every call went through one agent"
    agent = int(pidfiles[0].read_text())
    try:
        assert alive(agent)
        assert os.readlink(f"/proc/{agent}/exe") == str(home / "bin" / "python3")
        assert os.readlink(f"/proc/{agent}/root") == str(rootfs), "the agent runs inside the chroot"
    finally:
        os.kill(agent, signal.SIGTERM)
        wait_for(lambda: not alive(agent), 30, "the agent to stop")
    assert meta["version"] == __version__
