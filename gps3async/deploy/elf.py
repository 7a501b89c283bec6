"""The glibc an ELF file needs: the newest ``GLIBC_x.y`` in its version-needed section (pure parsing).

A dynamically linked program or library names, for every versioned symbol it
takes from another object, the version it needs (``memcpy@GLIBC_2.14``).  The
dynamic linker refuses to load it where the C library is older than the newest
of those, so the newest ``GLIBC_x.y`` over every ELF file of a bundle is the
oldest glibc a host may have to run it.  They sit in the ``SHT_GNU_verneed``
section (``.gnu.version_r``): a chain of ``Elf_Verneed`` records, one per
needed object, each with a chain of ``Elf_Vernaux`` records naming a version
in the string table the section links to.

Bytes in, versions out: no file access here (:func:`glibc_floor` takes bytes).
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

__all__ = ["ElfError", "GlibcVersion", "glibc_floor", "is_elf", "needed_versions", "parse_glibc_version"]

ELF_MAGIC = b"\x7fELF"
SHT_GNU_VERNEED = 0x6FFFFFFE
#: A numbered glibc symbol version; ``GLIBC_PRIVATE`` is not one.
GLIBC_NAME = re.compile(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?$")
#: How ``getconf GNU_LIBC_VERSION`` ("glibc 2.36") and ``ldd --version`` ("ldd (Debian GLIBC 2.36-9) 2.36") say it.
GLIBC_REPORTED = re.compile(r"(\d+)\.(\d+)")
#: Far more records than any real file has: a corrupt chain must not loop for ever.
MAX_RECORDS = 100_000


class ElfError(ValueError):
    """The bytes are not an ELF file this module can read."""


class GlibcVersion(NamedTuple):
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


def is_elf(head: bytes) -> bool:
    return head[:4] == ELF_MAGIC


def parse_glibc_version(text: str) -> GlibcVersion:
    """The version in ``getconf GNU_LIBC_VERSION``'s or ``ldd --version``'s first line, or a bundle's record."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    found = GLIBC_REPORTED.search(line)
    if found is None:
        raise ValueError(f"no glibc version in {line!r}")
    return GlibcVersion(int(found.group(1)), int(found.group(2)))


class _Layout:
    """Where the fields are, for one ELF class (32/64-bit) and byte order."""

    def __init__(self, data: bytes) -> None:
        if not is_elf(data) or len(data) < 0x34:
            raise ElfError("not an ELF file")
        elf_class, order = data[4], data[5]
        if elf_class not in (1, 2) or order not in (1, 2):
            raise ElfError(f"unknown ELF class {elf_class} or byte order {order}")
        self.wide = elf_class == 2
        self.order = "<" if order == 1 else ">"

    def unpack(self, fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
        try:
            return struct.unpack_from(self.order + fmt, data, offset)
        except struct.error:
            raise ElfError(f"truncated at offset {offset}") from None


def _sections(layout: _Layout, data: bytes) -> list[tuple[int, int, int, int]]:
    """Every section header as (type, offset, size, link)."""
    if layout.wide:
        (shoff,) = layout.unpack("Q", data, 0x28)
        shentsize, shnum = layout.unpack("HH", data, 0x3A)
        header = "IIQQQQIIQQ"
    else:
        (shoff,) = layout.unpack("I", data, 0x20)
        shentsize, shnum = layout.unpack("HH", data, 0x2E)
        header = "IIIIIIIIII"
    if shoff == 0 or shnum == 0:
        return []
    if shentsize < struct.calcsize(layout.order + header):
        raise ElfError(f"section header entries of {shentsize} bytes")
    sections = []
    for index in range(shnum):
        values = layout.unpack(header, data, shoff + index * shentsize)
        sections.append((values[1], values[4], values[5], values[6]))  # sh_type, sh_offset, sh_size, sh_link
    return sections


def _string(data: bytes, table_offset: int, table_size: int, index: int) -> str:
    if index >= table_size:
        raise ElfError(f"string {index} outside its table of {table_size} bytes")
    start = table_offset + index
    end = data.find(b"\0", start, table_offset + table_size)
    if end < 0:
        raise ElfError("unterminated string")
    return data[start:end].decode("ascii", "replace")


def needed_versions(data: bytes) -> dict[str, set[str]]:
    """Every symbol version ``data`` needs, by the object (``libc.so.6``) it needs it from."""
    layout = _Layout(data)
    sections = _sections(layout, data)
    needed: dict[str, set[str]] = {}
    for kind, offset, size, link in sections:
        if kind != SHT_GNU_VERNEED:
            continue
        if link >= len(sections):
            raise ElfError(f"version section links to section {link} of {len(sections)}")
        _, strings, strings_size, _ = sections[link]
        record, records = offset, 0
        while True:
            _, count, file_name, aux, following = layout.unpack("HHIII", data, record)
            versions = needed.setdefault(_string(data, strings, strings_size, file_name), set())
            entry = record + aux
            for _ in range(count):
                records += 1
                if records > MAX_RECORDS or entry >= offset + size:
                    raise ElfError("version records run past their section")
                _, _, _, name, entry_next = layout.unpack("IHHII", data, entry)
                versions.add(_string(data, strings, strings_size, name))
                if entry_next == 0:
                    break
                entry += entry_next
            if following == 0:
                break
            record += following
            records += 1
            if records > MAX_RECORDS or record >= offset + size:
                raise ElfError("version records run past their section")
    return needed


def glibc_floor(data: bytes) -> GlibcVersion | None:
    """The newest ``GLIBC_x.y`` ``data`` needs from any object; None when it needs none (static, or no libc)."""
    found = [
        GlibcVersion(int(match.group(1)), int(match.group(2)))
        for versions in needed_versions(data).values()
        for match in map(GLIBC_NAME.match, versions)
        if match
    ]
    return max(found, default=None)
