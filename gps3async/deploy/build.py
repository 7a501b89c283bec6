"""``deploy build``: the plugin and its dependencies installed for one prefix, packed into one bundle."""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from .bundle import Bundle
from .common import BUNDLE_META, PLUGIN, DeployError, last_line, run

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The first line of the installed launcher (PREFIX replaced): the interpreter, isolated, without site.
LAUNCHER_LINE = b"#!PREFIX/bin/python -IS\n"
#: Modules whose import proves the compiled extensions match the interpreter.
IMPORT_CHECK = "import gps3async.cli, gps3async.agent.server, gps3async.http, uvloop, httptools, crc32c, aiobotocore"


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
    result = run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], timeout=60)
    if result.returncode != 0:
        raise DeployError(f"{python} does not run: {last_line(result.stderr)}")
    return result.stdout.strip()


def _step(argv: Sequence[str], what: str, *, timeout: float = 900) -> str:
    result = run(argv, timeout=timeout)
    if result.returncode != 0:
        raise DeployError(f"{what} failed: {last_line(result.stderr or result.stdout)}")
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
