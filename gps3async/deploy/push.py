"""``deploy push``: check every host, copy the bundle to it, unpack it at the prefix, check ``--version``."""

from __future__ import annotations

import os
import shlex
import shutil
from typing import TYPE_CHECKING

from .common import PLUGIN, SSH_OPTIONS, DeployError, each_host, failure, is_local, last_line, on_host, root, run, say
from .hosts import unique

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from .bundle import Bundle


def _check_python(bundle: Bundle, host: str) -> str | None:
    """The base interpreter must be at the same path, with the same version, on ``host``."""
    probe = f"{shlex.quote(bundle.python)} -I -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"
    result = on_host(host, probe, timeout=120)
    if result.returncode != 0:
        if not is_local(host) and result.returncode == 255:
            return failure(host, result, "checking Python")
        return f"{bundle.python} does not run there ({last_line(result.stderr)}); the venv needs it at that path"
    found = result.stdout.strip()
    if found != bundle.python_version:
        return f"{bundle.python} is Python {found} there, the bundle was built with {bundle.python_version}"
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
    """Run the installed plugin's ``--version`` the way gpbackup does (for a stand-in: its own python)."""
    home = root(host) + bundle.prefix
    if is_local(host):
        command = f"{shlex.quote(home + '/bin/python')} -I {shlex.quote(home + '/bin/' + PLUGIN)} --version"
    else:
        command = f"{shlex.quote(home + '/bin/' + PLUGIN)} --version"
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
    each_host(hosts, lambda host: _check_python(bundle, host))
    remote = [host for host in hosts if not is_local(host)]
    target = f"/tmp/gps3async-{bundle.version}-{os.getpid()}.tar.gz"
    if remote:
        say(f"copying {bundle.path.name} to {len(remote)} hosts with {_copy(bundle, remote, target)}")
    each_host(hosts, lambda host: _unpack(bundle, host, target))
    each_host(hosts, lambda host: _check_version(bundle, host))
    for host in hosts:
        say(f"{host}: {bundle.version_line} at {root(host)}{bundle.prefix}")
