"""``deploy push``: check every host, copy the bundle to it, unpack it at the prefix, check ``--version``."""

from __future__ import annotations

import os
import shlex
import shutil
from typing import TYPE_CHECKING

from ..native.build import PYTHON_CLIENT
from .common import PLUGIN, SSH_OPTIONS, DeployError, each_host, failure, is_local, last_line, on_host, root, run, say
from .elf import is_elf, parse_glibc_version
from .hosts import unique

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .bundle import Bundle


#: A host's glibc version: getconf where it knows (glibc's own), else ldd's first line (musl's ldd has none).
GLIBC_PROBE = "getconf GNU_LIBC_VERSION 2>/dev/null || ldd --version 2>&1"


def _check_glibc(bundle: Bundle, host: str) -> str | None:
    """The host's C library must be at least as new as the newest glibc symbol version the bundle needs."""
    result = on_host(host, GLIBC_PROBE, timeout=120)
    if result.returncode != 0:
        return failure(host, result, "reading the glibc version")
    try:
        found = parse_glibc_version(result.stdout)
    except ValueError:
        return f"cannot tell its glibc version ({last_line(result.stdout)!r}); the bundle needs glibc {bundle.glibc}"
    if found < parse_glibc_version(bundle.glibc):
        return f"glibc {found} there, the bundle needs glibc {bundle.glibc} or newer"
    return None


def _copier() -> str:
    for tool in ("gpsync", "gpscp", "rsync", "scp"):
        if shutil.which(tool):
            return tool
    raise DeployError("none of gpsync, gpscp, rsync or scp is on PATH to copy the bundle")


def _copy(bundle: Bundle, hosts: Sequence[str], target: str) -> str:
    """Copy the bundle to ``target`` on every remote host; return the tool used."""
    tool = _copier()
    if tool in ("gpsync", "gpscp"):  # one call for every host, as Greenplum's own utilities do
        argv = [tool, *(arg for host in hosts for arg in ("-h", host)), str(bundle.path), f"=:{target}"]
        result = run(argv, timeout=3600)
        if result.returncode != 0:
            raise DeployError(f"{tool} could not copy the bundle: {last_line(result.stderr or result.stdout)}")
        return tool

    def one(host: str) -> str | None:
        if tool == "rsync":
            argv = ["rsync", "-a", "-e", shlex.join(["ssh", *SSH_OPTIONS]), str(bundle.path), f"{host}:{target}"]
        else:
            argv = ["scp", "-q", *SSH_OPTIONS, str(bundle.path), f"{host}:{target}"]
        result = run(argv, timeout=3600)
        return None if result.returncode == 0 else failure(host, result, f"copying with {tool}")

    each_host(hosts, one)
    return tool


def _unpack_script(destination: str, archive: str, *, remove_archive: bool) -> str:
    """Unpack beside the old install, then swap: a failed unpack leaves the old one working."""
    dest, tar = shlex.quote(destination), shlex.quote(archive)
    lines = ["set -e"]
    if remove_archive:
        lines.append(f"trap 'rm -f {tar}' EXIT")
    lines += [
        f"rm -rf {dest}.new {dest}.old",
        f"mkdir -p {dest}.new",
        f"tar -xzf {tar} -C {dest}.new",
        f"if [ -e {dest} ] || [ -L {dest} ]; then mv {dest} {dest}.old; fi",
        f"mv {dest}.new {dest}",
        f"rm -rf {dest}.old",
    ]
    return "\n".join(lines)


def _unpack(bundle: Bundle, host: str, remote_archive: str) -> str | None:
    local = is_local(host)
    archive = str(bundle.path.resolve()) if local else remote_archive
    script = _unpack_script(root(host) + bundle.prefix, archive, remove_archive=not local)
    result = on_host(host, script)
    return None if result.returncode == 0 else failure(host, result, "unpacking")


def _check_version(bundle: Bundle, host: str) -> str | None:
    """Run the installed plugin's ``--version`` the way gpbackup does.

    A stand-in directory is not at the prefix its launchers name: there the
    Python launcher runs with the copy's own interpreter, and the native client
    (which answers ``--version`` itself) directly.
    """
    home = root(host) + bundle.prefix
    plugin = shlex.quote(f"{home}/bin/{PLUGIN}")
    commands = [f"{plugin} --version"]
    if is_local(host):
        launcher = shlex.quote(f"{home}/bin/{PYTHON_CLIENT}")
        commands = [f"{shlex.quote(home + '/bin/python3')} -I -S {launcher} --version"]
        with open(f"{home}/bin/{PLUGIN}", "rb") as installed:
            if is_elf(installed.read(4)):
                commands.append(f"{plugin} --version")
    for command in commands:
        result = on_host(host, command, timeout=120)
        if result.returncode != 0:
            return failure(host, result, f"{PLUGIN} --version")
        answer = result.stdout.strip()
        if answer != bundle.version_line:
            return f"version mismatch: {home}/bin/{PLUGIN} answers {answer!r}, expected {bundle.version_line!r}"
    return None


def push(bundle: Bundle, hosts: Sequence[str], *, say: Callable[[str], None] = say) -> None:
    """Install ``bundle`` at its prefix on every host and check its ``--version`` there."""
    hosts = unique(hosts)
    if not hosts:
        raise DeployError("no hosts to install on")
    each_host(hosts, lambda host: _check_glibc(bundle, host))  # before anything is copied anywhere
    remote = [host for host in hosts if not is_local(host)]
    target = f"/tmp/gps3async-{bundle.version}-{os.getpid()}.tar.gz"
    if remote:
        say(f"copying {bundle.path.name} to {len(remote)} hosts with {_copy(bundle, remote, target)}")
    each_host(hosts, lambda host: _unpack(bundle, host, target))
    each_host(hosts, lambda host: _check_version(bundle, host))
    for host in hosts:
        say(f"{host}: {bundle.version_line} at {root(host)}{bundle.prefix}")
