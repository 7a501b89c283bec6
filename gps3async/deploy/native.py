"""The bundle's ``gpbackup_s3_plugin``: the native client, compiled for the bundle's interpreter and glibc floor.

The client names its agent by the interpreter's path and ``sys.version``
(:func:`gps3async.agent.place.identity`), so it is compiled here, for the
bundle's own interpreter at ``PREFIX/bin/python3`` and its launcher
``PREFIX/bin/gpbackup_s3_plugin_python``, which it execs for every call it
cannot hand over.  The bundle's glibc floor is its interpreter's: the client
is linked statically where this machine has a static C library, and then
needs no glibc symbol at all; linked dynamically by this machine's ``cc`` it
may need a newer glibc (``fstat`` alone is 2.33), and then zig (PyPI's
``ziglang``, or ``CC="python -m ziglang cc"``) compiles it for the
interpreter's floor.  Without any compiler the bundle keeps the Python
launcher under both names, and the build says so.
"""

from __future__ import annotations

import shutil
import sys
from importlib.util import find_spec
from typing import TYPE_CHECKING

from ..native.build import PYTHON_CLIENT, NativeBuildError, compile_client, find_compiler
from .common import PLUGIN, DeployError, last_line, run
from .elf import GlibcVersion, glibc_floor

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["install_native_client"]


def _is_zig(command: list[str]) -> bool:
    return any(part == "ziglang" or part.rsplit("/", 1)[-1] == "zig" for part in command)


def _floor(path: Path) -> GlibcVersion | None:
    return glibc_floor(path.read_bytes())


def install_native_client(stage: Path, prefix: str, executable: str, floor: GlibcVersion) -> str:
    """Put ``bin/gpbackup_s3_plugin`` into ``stage``; one line saying which client it is.

    ``executable`` is the staged interpreter (asked its ``sys.version``);
    ``floor`` the glibc floor of everything staged before the client.
    """
    answer = run([executable, "-I", "-S", "-c", "import sys; sys.stdout.write(sys.version)"], timeout=60)
    if answer.returncode != 0:
        raise DeployError(f"the bundled interpreter does not run: {last_line(answer.stderr)}")
    target = stage / "bin" / PLUGIN

    def compile_with(compiler: list[str] | None, glibc: str | None) -> None:
        compile_client(target, python_version=answer.stdout, interpreter=f"{prefix}/bin/python3",
                       python_client=f"{prefix}/bin/{PYTHON_CLIENT}", compiler=compiler, glibc=glibc)  # fmt: skip

    compiler = find_compiler()
    zig = [sys.executable, "-m", "ziglang", "cc"] if find_spec("ziglang") is not None else None
    try:
        if compiler is None or _is_zig(compiler):
            compile_with(compiler, str(floor))
        else:
            compile_with(compiler, None)
            needed = _floor(target)
            if needed is not None and needed > floor and zig is not None:
                compile_with(zig, str(floor))
    except NativeBuildError as err:
        shutil.copy2(stage / "bin" / PYTHON_CLIENT, target)
        return f"{PLUGIN} is the Python client: {err}"
    needed = _floor(target)
    if needed is not None and needed > floor:
        return (f"{PLUGIN} is the native client; it raises the bundle's glibc floor from {floor} to {needed}"
                " (install ziglang to compile it for the interpreter's floor)")  # fmt: skip
    if needed is None:
        return f"{PLUGIN} is the native client (linked statically)"
    return f"{PLUGIN} is the native client (glibc {needed} or newer)"
