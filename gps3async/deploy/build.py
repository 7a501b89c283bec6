"""``deploy build``: the plugin and its dependencies installed for one prefix, packed into one bundle."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..native.build import PYTHON_CLIENT
from .bundle import Bundle
from .common import BUNDLE_META, PLUGIN, PURE_WHEEL, DeployError, last_line, run
from .interpreter import assemble, bundle_libraries, describe, glibc_needed
from .native import install_native_client

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The first line of the installed launcher (PREFIX replaced): the interpreter, isolated, without site.
LAUNCHER_LINE = b"#!PREFIX/bin/python3 -IS\n"
#: Modules whose import proves the compiled extensions match the interpreter.
IMPORT_CHECK = "import gps3async.cli, gps3async.agent.server, gps3async.s3.http, uvloop, httptools, crc32c, aiobotocore"


def _check_prefix(prefix: str) -> str:
    if not prefix.startswith("/"):
        raise DeployError(f"--prefix must be an absolute path, not {prefix!r}")
    if any(char.isspace() for char in prefix) or len(prefix) > 120:
        # A shebang line is split on blanks and cut at 127 bytes by Linux.
        raise DeployError(f"--prefix must be at most 120 characters without blanks, not {prefix!r}")
    return os.path.normpath(prefix)


def project_dir() -> Path:
    """The source tree this module runs from, when it is one (``pip install`` can build it)."""
    here = Path(__file__).resolve().parents[2]
    if not (here / "setup.cfg").is_file():
        raise DeployError("this is not a source tree pip can build the plugin from; pass --wheels DIR (make wheels)")
    return here


def _install_command(stage: Path, wheels: str | None) -> list[str]:
    command = [str(stage / "bin" / "python"), "-I", "-m", "pip", "install", "--quiet", "--no-compile",
               "--disable-pip-version-check"]  # fmt: skip
    if wheels is None:
        return [*command, str(project_dir())]
    if not Path(wheels).is_dir():
        raise DeployError(f"--wheels {wheels}: no such directory (make wheels fills one)")
    return [*command, "--no-index", "--find-links", str(Path(wheels).resolve()), f"gps3async=={__version__}"]


def _write_launcher(venv: Path, stage: Path, prefix: str) -> None:
    """The Python launcher, its first line naming the bundle's interpreter, isolated and without site (``-IS``)."""
    body = (venv / "bin" / PYTHON_CLIENT).read_bytes().split(b"\n", 1)[1]
    launcher = stage / "bin" / PYTHON_CLIENT
    launcher.write_bytes(LAUNCHER_LINE.replace(b"PREFIX", prefix.encode()) + body)
    launcher.chmod(0o755)


def _step(argv: Sequence[str], what: str, *, timeout: float = 900, env: dict[str, str] | None = None) -> str:
    result = run(argv, timeout=timeout, env=env)
    if result.returncode != 0:
        raise DeployError(f"{what} failed: {last_line(result.stderr or result.stdout)}")
    return result.stdout


def build(prefix: str, output: Path, *, wheels: str | None, python: str) -> Bundle:
    """Build the bundle for ``prefix`` into ``output``: ``python`` itself, its libraries, the plugin."""
    prefix = _check_prefix(prefix)
    base = describe(python)
    with tempfile.TemporaryDirectory(prefix="gps3async-build-") as scratch:
        venv = Path(scratch) / "venv"
        _step([python, "-m", "venv", str(venv)], f"{python} -m venv")
        # Without compiling the native client: the bundle's is compiled below, for its interpreter and floor.
        _step(_install_command(venv, wheels), "installing gps3async into the new environment", env=PURE_WHEEL)
        _step([str(venv / "bin" / "python"), "-I", "-B", "-c", IMPORT_CHECK], "importing the installed plugin")
        stage = Path(scratch) / "bundle"
        site_packages = next((venv / "lib").glob("python*/site-packages"))
        executable = str(assemble(base, site_packages, stage))
        bundle_libraries(stage)
        _write_launcher(venv, stage, prefix)
        own_packages = str(stage / "lib" / base.stdlib_name / "site-packages")
        # From here on only the bundle's own interpreter runs: it proves the bundle stands on its own.
        _step([executable, "-I", "-S", "-B", "-c", f"import sys; sys.path.append({own_packages!r}); {IMPORT_CHECK}"],
              "importing the plugin with the bundled interpreter")  # fmt: skip
        # Byte-code compiled here, with the paths tracebacks will show on the hosts.
        _step([executable, "-I", "-S", "-m", "compileall", "-q", "-f", "-s", str(stage), "-p", prefix,
               str(stage / "lib")], "compiling byte-code")  # fmt: skip
        client = install_native_client(stage, prefix, executable, glibc_needed(stage))
        bundle = Bundle(output, prefix, __version__, base.version, str(glibc_needed(stage)), client)
        for argv in ([str(stage / "bin" / PLUGIN)], [executable, "-I", "-S", str(stage / "bin" / PYTHON_CLIENT)]):
            answer = _step([*argv, "--version"], f"{argv[-1]} --version")
            if answer.strip() != bundle.version_line:
                raise DeployError(
                    f"the built plugin answers {answer.strip()!r} to --version, expected {bundle.version_line!r}"
                )
        (stage / BUNDLE_META).write_text(json.dumps(bundle.meta(), indent=2) + "\n")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".part")
        with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
            archive.add(stage, arcname=".")
        partial.replace(output)
    return bundle
