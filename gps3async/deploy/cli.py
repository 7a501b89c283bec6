"""``python3 -m gps3async.deploy``'s command line."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from .build import build, project_dir
from .bundle import Bundle
from .common import PROGRAM, SUMMARY, DeployError, say
from .hosts import cluster_hosts, read_hosts_file
from .interpreter import describe
from .push import push
from .wheels import DEFAULT_GLIBC, download_wheels

if TYPE_CHECKING:
    from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python3 -m {PROGRAM}", description=SUMMARY)
    commands = parser.add_subparsers(dest="command", required=True)

    def building(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--prefix", required=True, help="absolute path of the install, the same on every host")
        sub.add_argument("--wheels", help="directory of wheels to install from, offline (make wheels)")
        sub.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                         help="the interpreter to bundle, with its libraries (%(default)s)")  # fmt: skip

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
    wheels_cmd = commands.add_parser("wheels", help="download the wheels for the oldest glibc of the cluster")
    wheels_cmd.add_argument("--output", required=True, type=Path, help="the directory of wheels (its .whl replaced)")
    wheels_cmd.add_argument("--glibc", default=DEFAULT_GLIBC, help="the oldest glibc of the hosts (%(default)s)")
    wheels_cmd.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                            help="the interpreter the bundle will carry: its version picks the wheels")  # fmt: skip
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
            size = bundle.path.stat().st_size / 2**20
            say(f"built {bundle.path} ({size:.1f} MiB) for {bundle.prefix}: {bundle.version_line}, "
                f"Python {bundle.python_version}, needs glibc {bundle.glibc} or newer; {bundle.client}")  # fmt: skip
        elif args.command == "push":
            push(Bundle.open(args.bundle), _hosts(args))
        elif args.command == "wheels":
            version = describe(args.python).version
            chosen = download_wheels(args.output, python_version=version, glibc=args.glibc, project=project_dir())
            say(f"{len(list(args.output.glob('*.whl')))} wheels in {args.output}/ for Python {version}, {chosen}")
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
