"""Which shared libraries a bundle brings and how its ELF files find them (pure: text in, decisions out).

The bundle carries every library ``ldd`` shows for its ELF files except the C
library's own objects, which must come from the host (they are one unit with
its dynamic linker and kernel interface), and GCC's runtime (:data:`HOST_RUNTIME`).  Each file that needs a carried
library gets a run path relative to itself (``$ORIGIN/../lib``), so the
bundle works at any prefix.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

__all__ = [
    "C_LIBRARY",
    "HOST_RUNTIME",
    "Dependency",
    "is_c_library",
    "parse_ldd",
    "relative_run_path",
    "taken_from_host",
]

#: The objects glibc itself installs: never carried, always the host's.
C_LIBRARY = frozenset({
    "libc.so.6", "libm.so.6", "libmvec.so.1", "libpthread.so.0", "libdl.so.2", "librt.so.1", "libutil.so.1",
    "libresolv.so.2", "libanl.so.1", "libBrokenLocale.so.1", "libc_malloc_debug.so.0", "libthread_db.so.1",
    "linux-vdso.so.1", "linux-gate.so.1",
})  # fmt: skip
#: GCC's runtime, which the manylinux policy lets wheels (frozenlist, cryptography) expect on every host, and
#: which glibc itself loads (libgcc_s, for thread cancellation): a copy from the build machine would only raise
#: the bundle's glibc floor to the build machine's (Debian 12's libstdc++ needs GLIBC_2.36).
HOST_RUNTIME = frozenset({"libgcc_s.so.1", "libstdc++.so.6"})
#: The dynamic linker: ``ld-linux-x86-64.so.2``, ``ld-linux-aarch64.so.1``, ``ld-linux.so.2``.
DYNAMIC_LINKER = re.compile(r"ld-linux[-\w.]*\.so\.\d+$")
#: ``name => path (address)``, ``name => not found``, ``path (address)``, ``name (address)``.
LDD_LINE = re.compile(r"^\s*(?P<name>\S+)(?:\s+=>\s+(?P<path>not found|\S+))?(?:\s+\(0x[0-9a-f]+\))?\s*$")


class Dependency(NamedTuple):
    """One line of ``ldd``: the name asked for and the file it resolved to (None: not found, or no file)."""

    name: str
    path: str | None


def is_c_library(name: str) -> bool:
    base = posixpath.basename(name)
    return base in C_LIBRARY or DYNAMIC_LINKER.match(base) is not None


def taken_from_host(name: str) -> bool:
    """A library the bundle never carries: the C library's own, or GCC's runtime."""
    return is_c_library(name) or posixpath.basename(name) in HOST_RUNTIME


def parse_ldd(text: str) -> list[Dependency]:
    """The dependencies in ``ldd FILE``'s output (``statically linked`` and other remarks give none)."""
    found = []
    for line in text.splitlines():
        match = LDD_LINE.match(line)
        if match is None or "statically linked" in line or line.rstrip().endswith(":"):
            continue
        name, path = match.group("name"), match.group("path")
        if path is None:
            # A bare path is the dynamic linker; a bare name (linux-vdso.so.1) is no file at all.
            found.append(Dependency(posixpath.basename(name), name if name.startswith("/") else None))
        else:
            found.append(Dependency(name, None if path == "not found" else path))
    return found


def relative_run_path(file_directory: str, library_directory: str) -> str:
    """The ``$ORIGIN``-relative run path from a file in ``file_directory`` to ``library_directory``."""
    relative = posixpath.relpath(library_directory, file_directory)
    return "$ORIGIN" if relative == "." else f"$ORIGIN/{relative}"
