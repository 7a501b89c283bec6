"""The bundle's own interpreter: the executable, its standard library and every shared library it loads.

Laid out as CPython lays out its own install (``bin/python3``,
``lib/pythonX.Y/`` with ``lib-dynload/`` and ``site-packages/``, shared
libraries in ``lib/``), so the interpreter finds its standard library from
where its executable is (the ``lib/pythonX.Y/os.py`` landmark), at any prefix,
without ``PYTHONHOME``.  Shared libraries get a run path relative to the file
(``$ORIGIN``) written as ``DT_RPATH``, not ``DT_RUNPATH``: ``greenplum_path.sh``
exports ``LD_LIBRARY_PATH=$GPHOME/lib``, which holds Greenplum's own libssl,
libcrypto, libz and libbz2, and ``LD_LIBRARY_PATH`` overrides a run path but not
an rpath.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

from .common import DeployError, last_line, run
from .elf import ElfError, GlibcVersion, glibc_floor, is_elf
from .sharedlibs import Dependency, parse_ldd, relative_run_path, taken_from_host

__all__ = ["BaseInterpreter", "assemble", "bundle_libraries", "describe", "elf_files", "glibc_needed"]

#: Standard library directories and modules the plugin never loads (and the build's own leftovers).
STDLIB_LEFT_OUT = frozenset({
    "__pycache__", "site-packages", "dist-packages", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip",
    "lib2to3", "distutils", "venv", "pydoc_data", "curses", "sqlite3", "turtle.py", "__phello__",
})  # fmt: skip
#: Compiled modules the plugin never loads; most need a library the bundle would otherwise carry.
DYNLOAD_LEFT_OUT = ("_test", "_ctypes_test", "_xxtestfuzz", "_xxsubinterpreters", "xxlimited", "xxsubtype",
                    "_tkinter", "_curses", "readline", "_dbm", "_gdbm", "nis", "ossaudiodev", "spwd", "_sqlite3",
                    "_crypt", "audioop")  # fmt: skip
#: What the build environment installed for itself, not for the plugin.
SITE_LEFT_OUT = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth", "wheel")
#: Asked of the interpreter to bundle: where its parts are.
DESCRIBE = """
import json, os, sys, sysconfig
print(json.dumps({
    "executable": os.path.realpath(sys.executable),
    "version": "%d.%d" % sys.version_info[:2],
    "stdlib": sysconfig.get_path("stdlib"),
    "dynload": os.path.dirname(__import__("_ssl").__file__),
}))
"""


class BaseInterpreter(NamedTuple):
    """The interpreter a bundle is built from."""

    executable: str
    version: str
    stdlib: str
    dynload: str

    @property
    def stdlib_name(self) -> str:
        return f"python{self.version}"


def describe(python: str) -> BaseInterpreter:
    result = run([python, "-I", "-c", DESCRIBE], timeout=60)
    if result.returncode != 0:
        raise DeployError(f"{python} does not run: {last_line(result.stderr)}")
    try:
        facts = json.loads(result.stdout)
        return BaseInterpreter(*(str(facts[name]) for name in BaseInterpreter._fields))
    except (ValueError, KeyError, TypeError) as err:
        raise DeployError(f"{python} did not describe itself: {err}") from None


def _left_out_of_stdlib(directory: str, names: list[str]) -> set[str]:
    del directory
    return {
        name
        for name in names
        if name in STDLIB_LEFT_OUT or name.startswith("config-") or name.startswith(DYNLOAD_LEFT_OUT)
    }


def _left_out_of_site(directory: str, names: list[str]) -> set[str]:
    del directory
    # A project's directories and its .dist-info (pip-24.0.dist-info); setuptools' .pth, which imports its hack.
    return {
        name for name in names if name == "__pycache__" or name in SITE_LEFT_OUT or name.split("-")[0] in SITE_LEFT_OUT
    }


def assemble(base: BaseInterpreter, site_packages: Path, stage: Path) -> Path:
    """Lay the interpreter, its standard library and ``site_packages`` out in ``stage``; return its executable."""
    (stage / "bin").mkdir(parents=True)
    executable = stage / "bin" / "python3"
    shutil.copy2(base.executable, executable)  # the file itself: a link would point at the build machine
    stdlib = stage / "lib" / base.stdlib_name
    shutil.copytree(base.stdlib, stdlib, ignore=_left_out_of_stdlib)
    dynload = stdlib / "lib-dynload"
    if not dynload.is_dir():  # Debian and Fedora keep it beside the standard library, not in it
        shutil.copytree(base.dynload, dynload, ignore=_left_out_of_stdlib)
    shutil.copytree(site_packages, stdlib / "site-packages", ignore=_left_out_of_site)
    return executable


def elf_files(stage: Path) -> list[Path]:
    """Every ELF file in ``stage`` (links are not followed: each file counts once)."""
    found = []
    for directory, _, names in os.walk(stage):
        for name in names:
            path = Path(directory) / name
            if path.is_symlink() or not path.is_file():
                continue
            with path.open("rb") as file:
                if is_elf(file.read(4)):
                    found.append(path)
    return sorted(found)


def _ldd(path: Path) -> list[Dependency]:
    env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    try:
        result = subprocess.run(["ldd", str(path)], capture_output=True, text=True, timeout=60, env=env, check=False)
    except FileNotFoundError:
        raise DeployError("ldd not found (it comes with the C library's development tools)") from None
    # ldd says "not a dynamic executable" (exit 1) for static files: they need nothing.
    return [] if result.returncode != 0 else parse_ldd(result.stdout)


def _patchelf(*args: str) -> None:
    result = run(["patchelf", *args], timeout=120)
    if result.returncode != 0:
        raise DeployError(f"patchelf {' '.join(args)} failed: {last_line(result.stderr)}")


def _strip_debug(paths: list[Path]) -> None:
    if shutil.which("strip") is None or not paths:
        return  # a larger bundle, nothing worse
    result = run(["strip", "--strip-debug", *map(str, paths)], timeout=300)
    if result.returncode != 0:
        raise DeployError(f"strip --strip-debug failed: {last_line(result.stderr)}")


def _set_run_path(path: Path, carried: str | None) -> None:
    """Keep a file's ``$ORIGIN`` entries (a wheel's vendored libraries), drop those naming the build machine
    (``/root/.pyenv/.../lib``), put ``carried`` first; as ``DT_RPATH``, which ``LD_LIBRARY_PATH`` cannot override."""
    own = run(["patchelf", "--print-rpath", str(path)], timeout=60).stdout.strip()
    entries = [entry for entry in own.split(":") if entry.startswith("$ORIGIN")]
    wanted = ":".join(dict.fromkeys([carried, *entries] if carried else entries))
    if wanted and (wanted != own or carried):
        _patchelf("--force-rpath", "--set-rpath", wanted, str(path))
    elif own and not wanted:
        _patchelf("--remove-rpath", str(path))


def bundle_libraries(stage: Path) -> list[str]:
    """Copy into ``stage/lib`` every library the ELF files load, C library aside; point them at it.

    Returns the names of the libraries copied.  Fails when anything stays unresolved or resolves
    outside ``stage`` afterwards.
    """
    if shutil.which("patchelf") is None:
        raise DeployError("patchelf not found; install it (Debian, Ubuntu, RHEL: package patchelf)")
    library_dir = stage / "lib"
    inside = str(stage.resolve()) + "/"
    needs: dict[Path, set[str]] = {}
    copied: dict[str, str] = {}
    files = elf_files(stage)
    for path in files:
        for name, resolved in _ldd(path):
            if taken_from_host(name):
                continue
            if resolved is None:
                raise DeployError(f"{path.relative_to(stage)} needs {name}, which ldd does not find here")
            if os.path.realpath(resolved).startswith(inside):
                continue  # a wheel's own vendored library, found through its own run path
            needs.setdefault(path, set()).add(name)
            copied.setdefault(name, os.path.realpath(resolved))
    for name, source in copied.items():
        shutil.copy2(source, library_dir / name)
        (library_dir / name).chmod(0o755)
    # Debug symbols of the interpreter's own files (a self-built libpython carries 16 MB of them); wheels are
    # left as their projects built them.  Before patchelf: strip may undo what patchelf moved.
    _strip_debug([path for path in elf_files(stage) if "site-packages" not in path.parts])
    for name in copied:  # a copied library needs the others (libssl needs libcrypto): ldd shows them all
        for dependency, _ in _ldd(library_dir / name):
            if not taken_from_host(dependency):
                needs.setdefault(library_dir / name, set()).add(dependency)
    for path in files + [library_dir / name for name in copied]:
        _set_run_path(path, relative_run_path(str(path.parent), str(library_dir)) if path in needs else None)
    _check_resolved(stage, inside)
    return sorted(copied)


def _check_resolved(stage: Path, inside: str) -> None:
    for path in elf_files(stage):
        for name, resolved in _ldd(path):
            if taken_from_host(name):
                continue
            if resolved is None or not os.path.realpath(resolved).startswith(inside):
                where = resolved or "nowhere"
                raise DeployError(f"after relocation {path.relative_to(stage)} still loads {name} from {where}")


def glibc_needed(stage: Path) -> GlibcVersion:
    """The newest glibc symbol version any ELF file in ``stage`` needs: the oldest glibc a host may have."""
    floors = []
    for path in elf_files(stage):
        try:
            floor = glibc_floor(path.read_bytes())
        except ElfError as err:
            raise DeployError(f"cannot read {path.relative_to(stage)}: {err}") from None
        if floor is not None:
            floors.append(floor)
    if not floors:
        raise DeployError(f"no ELF file in {stage} names a glibc version")
    return max(floors)
