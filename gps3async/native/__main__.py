"""``python -m gps3async.native build --output PATH [...]``: compile the native client by hand.

``make lint`` runs it with ``--strict`` (the compiler's warnings as errors);
pip's install and the deploy bundle call :func:`.build.compile_client` directly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import PYTHON_CLIENT, NativeBuildError, compile_client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gps3async.native", description=__doc__.split("\n", 1)[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="compile the native client")
    build.add_argument("--output", required=True, type=Path, help="where the client goes")
    build.add_argument("--interpreter", default="", help="the Python client's interpreter (default: beside it)")
    build.add_argument("--python-client", default=PYTHON_CLIENT, help="the Python launcher (relative: beside it)")
    build.add_argument("--python-version", default=sys.version, help="that interpreter's sys.version")
    build.add_argument("--glibc", help="target this glibc version (zig cc only)")
    build.add_argument("--strict", action="store_true", help="-Wextra -Werror and more: what make lint holds it to")
    build.add_argument("--sanitize", action="store_true", help="AddressSanitizer and UBSan")
    args = parser.parse_args(argv)
    try:
        built = compile_client(args.output, python_version=args.python_version, interpreter=args.interpreter,
                               python_client=args.python_client, glibc=args.glibc, strict=args.strict,
                               sanitize=args.sanitize)  # fmt: skip
    except NativeBuildError as err:
        sys.stderr.write(f"gps3async.native: {err}\n")
        return 1
    sys.stdout.write(f"{built}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
