"""Install the plugin at the same absolute path on every host of a cluster (standard library only).

::

    python3 -m gps3async.deploy build   --prefix P [--wheels DIR] [--python PY] --output BUNDLE
    python3 -m gps3async.deploy push    BUNDLE [--host H ...] [--hosts-file F]
    python3 -m gps3async.deploy install --prefix P [--wheels DIR] [--python PY] [--host H ...] [--hosts-file F]

``build`` makes a virtual environment for ``P`` in a scratch directory, installs
the plugin and its dependencies into it (offline from a directory of wheels, or
from this source tree), rewrites every path that names the scratch directory
to ``P`` and packs the result into one bundle (a ``.tar.gz``).  ``push`` checks
each host's interpreter, copies the bundle to every host (``gpsync``, else
``gpscp``, else ``rsync``, else ``scp``), unpacks it beside ``P``, swaps it into
place, and runs ``--version`` there.  ``install`` does both.

Why a virtual environment and not a zipapp: uvloop, httptools, crc32c and
aiohttp's and yarl's speed-ups are compiled extensions, which Python cannot import from
inside a zip file, and the thin client starts once per table per segment: a
venv's interpreter starts as fast as a bare one.  The cost is that a venv
points at its base interpreter, so every host needs the same Python at the
same path (cluster hosts are built alike; ``push`` checks it).

The plugin's launcher (``scripts/gpbackup_s3_plugin``) gets the first line
``#!PREFIX/bin/python -IS``: the kernel starts the interpreter directly (no
shell in between), isolated (``-I``: ``greenplum_path.sh``, which gpbackup
sources before calling the plugin, exports ``PYTHONPATH`` and on Greenplum 6
``PYTHONHOME`` for Greenplum's own Python, and either would break or hijack the
plugin's interpreter) and without ``site`` (``-S``: half of the interpreter's
start-up, which the thin client does not need).  Linux passes everything after
the interpreter as one argument, and ``-IS`` is one.

Hosts come from ``--host``/``--hosts-file``, else from ``gp_segment_configuration``
through ``psql``.  A host given as an absolute directory stands in for a host
(tests, staging): the install lands in ``<directory><prefix>``, and commands run
locally instead of over ssh.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["Bundle", "DeployError", "build", "cluster_hosts", "main", "push", "read_hosts_file"]

PROGRAM = "gps3async.deploy"
PLUGIN = "gpbackup_s3_plugin"
#: The file at the root of every bundle (and so of every install) that says what it is.
BUNDLE_META = "gps3async-bundle.json"
HOSTS_QUERY = "SELECT DISTINCT hostname FROM gp_segment_configuration ORDER BY 1"
#: Never wait on a password prompt, never wait long for a dead host.
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=15")
#: Hosts worked on at once (ssh connections, unpacking).
PARALLEL_HOSTS = 16
#: The first line of the installed launcher (PREFIX replaced): the interpreter, isolated, without site.
LAUNCHER_LINE = b"#!PREFIX/bin/python -IS\n"
#: Modules whose import proves the compiled extensions match the interpreter.
IMPORT_CHECK = "import gps3async.cli, gps3async.agent.server, gps3async.s3.http, uvloop, httptools, crc32c, aiobotocore"


class DeployError(Exception):
    """What went wrong, in one line for stderr."""


class Bundle:
    """A built, relocated virtual environment packed for one prefix."""

    def __init__(self, path: Path, prefix: str, version: str, python: str, python_version: str) -> None:
        self.path = path
        self.prefix = prefix
        self.version = version
        #: The base interpreter the venv points at; every host needs it at this path.
        self.python = python
        self.python_version = python_version

    @classmethod
    def open(cls, path: Path) -> Bundle:
        try:
            with tarfile.open(path, "r:gz") as archive:
                member = archive.extractfile(f"./{BUNDLE_META}")
                meta = json.loads(member.read()) if member else {}
            fields = [str(meta[name]) for name in ("prefix", "version", "python", "python_version")]
        except (OSError, tarfile.TarError, KeyError, TypeError, ValueError) as err:
            raise DeployError(f"{path} is not a bundle made by '{PROGRAM} build': {err}") from None
        return cls(path, *fields)

    @property
    def version_line(self) -> str:
        """What ``--version`` must print on every host."""
        return f"{PLUGIN} version {self.version}"


# --------------------------------------------------------------------------- running commands


def _run(argv: Sequence[str], *, timeout: float = 600, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise DeployError(f"{argv[0]} not found") from None
    except subprocess.TimeoutExpired:
        raise DeployError(f"{shlex.join(argv)} did not finish within {timeout:.0f} s") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _is_local(host: str) -> bool:
    """An absolute directory stands in for a host."""
    return host.startswith("/")


def _root(host: str) -> str:
    return host.rstrip("/") if _is_local(host) else ""


def _on_host(host: str, command: str, *, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run a shell command on ``host`` (locally for a directory stand-in)."""
    if _is_local(host):
        return _run(["bash", "-c", command], timeout=timeout)
    return _run(["ssh", *SSH_OPTIONS, host, command], timeout=timeout)


def _failure(host: str, result: subprocess.CompletedProcess[str], what: str) -> str:
    """Why a command on ``host`` failed; ssh's own failures (exit 255) mean the host was not reached."""
    if not _is_local(host) and result.returncode == 255:
        return f"unreachable ({_last_line(result.stderr)})"
    return f"{what} failed with exit {result.returncode} ({_last_line(result.stderr or result.stdout)})"


def _each_host(hosts: Sequence[str], job: Callable[[str], str | None]) -> None:
    """Run ``job`` on every host at once; raise one error naming every host whose job said why it failed."""
    with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_HOSTS, len(hosts)))) as pool:
        outcomes = list(pool.map(_guarded(job), hosts))
    failed = [f"{host}: {why}" for host, why in zip(hosts, outcomes) if why]
    if failed:
        raise DeployError(f"{len(failed)} of {len(hosts)} hosts failed: " + "; ".join(failed))


def _guarded(job: Callable[[str], str | None]) -> Callable[[str], str | None]:
    def run(host: str) -> str | None:
        try:
            return job(host)
        except DeployError as err:
            return str(err)

    return run


# --------------------------------------------------------------------------- hosts


def read_hosts_file(path: str) -> list[str]:
    """One host per line; blank lines and ``#`` comments are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DeployError(f"cannot read hosts file {path}: {getattr(err, 'strerror', None) or err}") from None
    hosts = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [host for host in hosts if host]


def cluster_hosts() -> list[str]:
    """Every host of the running cluster, from ``gp_segment_configuration`` through ``psql``."""
    if shutil.which("psql") is None:
        raise DeployError("no --host or --hosts-file given, and psql is not on PATH to ask the cluster")
    argv = ["psql", "-X", "-A", "-t", "-c", HOSTS_QUERY]
    if not os.environ.get("PGDATABASE"):
        argv[1:1] = ["-d", "postgres"]  # psql's default database (the user's name) rarely exists
    result = _run(argv, timeout=60)
    if result.returncode != 0:
        raise DeployError(f"psql could not list the cluster's hosts: {_last_line(result.stderr)}")
    hosts = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    if not hosts:
        raise DeployError("gp_segment_configuration lists no hosts")
    return hosts


def _unique(hosts: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(hosts))


# --------------------------------------------------------------------------- build


def _check_prefix(prefix: str) -> str:
    if not prefix.startswith("/"):
        raise DeployError(f"--prefix must be an absolute path, not {prefix!r}")
    if any(char.isspace() for char in prefix) or len(prefix) > 120:
        # A shebang line is split on blanks and cut at 127 bytes by Linux.
        raise DeployError(f"--prefix must be at most 120 characters without blanks, not {prefix!r}")
    return os.path.normpath(prefix)


def _project_dir() -> Path:
    """The source tree this module runs from, when it is one (``pip install`` can build it)."""
    here = Path(__file__).resolve().parent.parent
    if not (here / "setup.cfg").is_file():
        raise DeployError("no --wheels given and this is not a source tree pip can build; pass --wheels DIR")
    return here


def _install_command(stage: Path, wheels: str | None) -> list[str]:
    command = [str(stage / "bin" / "python"), "-I", "-m", "pip", "install", "--quiet", "--no-compile",
               "--disable-pip-version-check"]  # fmt: skip
    if wheels is None:
        return [*command, str(_project_dir())]
    if not Path(wheels).is_dir():
        raise DeployError(f"--wheels {wheels}: no such directory (make wheels fills one)")
    return [*command, "--no-index", "--find-links", str(Path(wheels).resolve()), f"gps3async=={__version__}"]


def _relocate(stage: Path, prefix: str) -> None:
    """Point every script at ``prefix``; the plugin's launcher runs isolated and without site (``-IS``)."""
    old, new = str(stage).encode(), prefix.encode()
    for path in [*(stage / "bin").iterdir(), stage / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if path.name == PLUGIN:
            data = LAUNCHER_LINE.replace(b"PREFIX", new) + data.split(b"\n", 1)[1]
        if old in data or path.name == PLUGIN:
            path.write_bytes(data.replace(old, new))


def _python_version(python: str) -> str:
    result = _run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=60)
    if result.returncode != 0:
        raise DeployError(f"{python} does not run: {_last_line(result.stderr)}")
    return result.stdout.strip()


def _step(argv: Sequence[str], what: str, *, timeout: float = 900) -> str:
    result = _run(argv, timeout=timeout)
    if result.returncode != 0:
        raise DeployError(f"{what} failed: {_last_line(result.stderr or result.stdout)}")
    return result.stdout


def build(prefix: str, output: Path, *, wheels: str | None, python: str) -> Bundle:
    """Build the bundle for ``prefix`` into ``output``."""
    prefix = _check_prefix(prefix)
    python_version = _python_version(python)
    with tempfile.TemporaryDirectory(prefix="gps3async-build-") as scratch:
        stage = Path(scratch) / "venv"
        _step([python, "-m", "venv", str(stage)], f"{python} -m venv")
        _step(_install_command(stage, wheels), "installing gps3async into the new environment")
        venv_python = str(stage / "bin" / "python")
        _step([venv_python, "-I", "-B", "-c", IMPORT_CHECK], "importing the installed plugin")
        _relocate(stage, prefix)
        # Byte-code compiled here (all of it: ensurepip compiled pip with the scratch paths), with the
        # paths tracebacks will show on the hosts.
        _step([venv_python, "-I", "-m", "compileall", "-q", "-f", "-s", str(stage), "-p", prefix, str(stage / "lib")],
              "compiling byte-code")  # fmt: skip
        bundle = Bundle(output, prefix, __version__, python, python_version)
        answer = _step(
            [venv_python, "-I", "-B", str(stage / "bin" / PLUGIN), "--version"], f"{PLUGIN} --version"
        ).strip()
        if answer != bundle.version_line:
            raise DeployError(f"the built plugin answers {answer!r} to --version, expected {bundle.version_line!r}")
        meta = {"prefix": prefix, "version": __version__, "python": python, "python_version": python_version}
        (stage / BUNDLE_META).write_text(json.dumps(meta, indent=2) + "\n")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".part")
        with tarfile.open(partial, "w:gz", compresslevel=1) as archive:
            archive.add(stage, arcname=".")  # symlinks stay symlinks (bin/python)
        partial.replace(output)
    return bundle


# --------------------------------------------------------------------------- push


def _check_python(bundle: Bundle, host: str) -> str | None:
    """The base interpreter must be at the same path, with the same version, on ``host``."""
    probe = f"{shlex.quote(bundle.python)} -I -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'"
    result = _on_host(host, probe, timeout=120)
    if result.returncode != 0:
        if not _is_local(host) and result.returncode == 255:
            return _failure(host, result, "checking Python")
        return f"{bundle.python} does not run there ({_last_line(result.stderr)}); the venv needs it at that path"
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
        result = _run(argv, timeout=3600)
        if result.returncode != 0:
            raise DeployError(f"{tool} could not copy the bundle: {_last_line(result.stderr or result.stdout)}")
        return tool

    def one(host: str) -> str | None:
        if tool == "rsync":
            argv = ["rsync", "-a", "-e", shlex.join(["ssh", *SSH_OPTIONS]), str(bundle.path), f"{host}:{target}"]
        else:
            argv = ["scp", "-q", *SSH_OPTIONS, str(bundle.path), f"{host}:{target}"]
        result = _run(argv, timeout=3600)
        return None if result.returncode == 0 else _failure(host, result, f"copying with {tool}")

    _each_host(hosts, one)
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
    local = _is_local(host)
    archive = str(bundle.path.resolve()) if local else remote_archive
    script = _unpack_script(_root(host) + bundle.prefix, archive, remove_archive=not local)
    result = _on_host(host, script)
    return None if result.returncode == 0 else _failure(host, result, "unpacking")


def _check_version(bundle: Bundle, host: str) -> str | None:
    """Run the installed plugin's ``--version`` the way gpbackup does (for a stand-in: its own python)."""
    home = _root(host) + bundle.prefix
    if _is_local(host):
        command = f"{shlex.quote(home + '/bin/python')} -I {shlex.quote(home + '/bin/' + PLUGIN)} --version"
    else:
        command = f"{shlex.quote(home + '/bin/' + PLUGIN)} --version"
    result = _on_host(host, command, timeout=120)
    if result.returncode != 0:
        return _failure(host, result, f"{PLUGIN} --version")
    answer = result.stdout.strip()
    if answer != bundle.version_line:
        return f"version mismatch: {home}/bin/{PLUGIN} answers {answer!r}, expected {bundle.version_line!r}"
    return None


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def push(bundle: Bundle, hosts: Sequence[str], *, say: Callable[[str], None] = _say) -> None:
    """Install ``bundle`` at its prefix on every host and check its ``--version`` there."""
    hosts = _unique(hosts)
    if not hosts:
        raise DeployError("no hosts to install on")
    _each_host(hosts, lambda host: _check_python(bundle, host))
    remote = [host for host in hosts if not _is_local(host)]
    target = f"/tmp/gps3async-{bundle.version}-{os.getpid()}.tar.gz"
    if remote:
        say(f"copying {bundle.path.name} to {len(remote)} hosts with {_copy(bundle, remote, target)}")
    _each_host(hosts, lambda host: _unpack(bundle, host, target))
    _each_host(hosts, lambda host: _check_version(bundle, host))
    for host in hosts:
        say(f"{host}: {bundle.version_line} at {_root(host)}{bundle.prefix}")


# --------------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    summary = (__doc__ or "").split("\n\n")[0]  # no docstring under python -OO
    parser = argparse.ArgumentParser(prog=f"python3 -m {PROGRAM}", description=summary)
    commands = parser.add_subparsers(dest="command", required=True)

    def building(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--prefix", required=True, help="absolute path of the install, the same on every host")
        sub.add_argument("--wheels", help="directory of wheels to install from, offline (make wheels)")
        sub.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                         help="the base interpreter, needed at this path on every host (%(default)s)")  # fmt: skip

    def targets(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--host", action="append", default=[], help="a host (repeat); an absolute directory stands in for one"
        )
        sub.add_argument("--hosts-file", help="a file of hosts, one per line")  # fmt: skip

    build_cmd = commands.add_parser("build", help="build the bundle")
    building(build_cmd)
    build_cmd.add_argument("--output", required=True, type=Path, help="the bundle to write (.tar.gz)")
    push_cmd = commands.add_parser("push", help="install a bundle on every host")
    push_cmd.add_argument("bundle", type=Path)
    targets(push_cmd)
    install_cmd = commands.add_parser("install", help="build, then push")
    building(install_cmd)
    targets(install_cmd)
    return parser


def _hosts(args: argparse.Namespace) -> list[str]:
    hosts = list(args.host)
    if args.hosts_file:
        hosts += read_hosts_file(args.hosts_file)
    return hosts or cluster_hosts()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "build":
            bundle = build(args.prefix, args.output, wheels=args.wheels, python=args.python)
            _say(f"built {bundle.path} for {bundle.prefix}: {bundle.version_line}, Python {bundle.python_version}")
        elif args.command == "push":
            push(Bundle.open(args.bundle), _hosts(args))
        else:
            hosts = _hosts(args)  # before the build: a wrong host list should fail in a second, not a minute
            with tempfile.TemporaryDirectory(prefix="gps3async-bundle-") as scratch:
                bundle = build(args.prefix, Path(scratch) / f"gps3async-{__version__}.tar.gz", wheels=args.wheels,
                               python=args.python)  # fmt: skip
                push(bundle, hosts)
    except DeployError as err:
        sys.stderr.write(f"{PROGRAM}: {err}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
